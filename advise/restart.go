package advise

import (
	"fmt"
	"time"

	"github.com/backlogctl/backlogctl/model"
)

// lastChange is the latest recorded change of key.
func (v *view) lastChange(key string) (model.SysctlChange, bool) {
	for i := len(v.in.Changes) - 1; i >= 0; i-- {
		if v.in.Changes[i].Key == key {
			return v.in.Changes[i], true
		}
	}
	return model.SysctlChange{}, false
}

// Predates says whether a listener was listening before a somaxconn raise
// from c.From to c.To: yes when its backlog is the old value and every owner
// started before the change; maybe when its backlog is the old value and
// the owners' start times cannot tell (none seen, or one started later and
// may have inherited the socket).
type Predates int

// The answers of ListenerPredates.
const (
	PredatesNo Predates = iota
	PredatesMaybe
	PredatesYes
)

// ListenerPredates judges whether l kept the clamp of the somaxconn before
// change c: its effective backlog equals the old value, which listen() gave
// it when it asked for at least that much.
func ListenerPredates(l model.Listener, c model.SysctlChange) Predates {
	if c.Key != "net.core.somaxconn" || c.To <= c.From || int64(l.AcceptQueueMax) != c.From {
		return PredatesNo
	}
	if len(l.Processes) == 0 {
		return PredatesMaybe
	}
	for _, p := range l.Processes {
		if p.StartTime == nil || !p.StartTime.Before(c.At) {
			return PredatesMaybe
		}
	}
	return PredatesYes
}

// predatesFinding: backlogctl raised somaxconn, and this listener still has
// the old value as its backlog: it was clamped then, and keeps that clamp
// until its program calls listen() again.
func (v *view) predatesFinding(l model.Listener, p pressure, somax int64, known bool) (Finding, bool) {
	c, ok := v.lastChange("net.core.somaxconn")
	if !ok || !known || somax <= c.From {
		return Finding{}, false
	}
	pre := ListenerPredates(l, c)
	if pre == PredatesNo {
		return Finding{}, false
	}
	sev := Info
	if p.active(v.sampled()) {
		sev = worse(v.severityOf(p), Warning)
	}
	at := c.At.Local().Format(time.DateTime + " MST")
	var reason string
	if pre == PredatesYes {
		reason = fmt.Sprintf("this listener predates the change: backlogctl raised net.core.somaxconn from %d to %d at %s, and its backlog is still %d, the old clamp (listen() clamps only when called, net/socket.c __sys_listen_socket); %s started before the change.",
			c.From, c.To, at, l.AcceptQueueMax, ownerList(l.Processes))
	} else {
		reason = fmt.Sprintf("backlogctl raised net.core.somaxconn from %d to %d at %s, and this listener's backlog is %d, the old value: if it was listening before the change it keeps that clamp until its program calls listen() again; if the program asks for exactly %d, the backlog is its own setting (the owners' start times cannot tell which).",
			c.From, c.To, at, l.AcceptQueueMax, c.From)
	}
	if p.active(v.sampled()) || p.historic(v.sampled()) {
		reason = v.overflowText(l, p) + "; " + reason
	}
	ev := v.listenerEvidence(l, p)
	ev["somaxconn_before_change"] = float64(c.From)
	ev["somaxconn_changed_at"] = float64(c.At.Unix())
	return Finding{
		ID: "listener-predates-somaxconn-change", Severity: sev,
		Subject:  SubjectOf(l),
		Reason:   reason,
		Fix:      restartText(l, v.in.Units) + " to give it the new backlog; raising somaxconn again would change nothing for it",
		Evidence: ev,
	}, true
}

// restartText says how to make l's program call listen() again.
func restartText(l model.Listener, units map[int]string) string {
	s := "restart " + ownerName(l.Processes)
	for _, p := range l.Processes {
		if u := units[p.PID]; u != "" {
			s += fmt.Sprintf(" (`systemctl restart %s`)", u)
			break
		}
		if p.InPod() {
			// kubectl's own words: a pod a controller owns is replaced.
			s += fmt.Sprintf(" (in pod %s: `kubectl -n %s rollout restart` the workload that owns it, or `kubectl -n %s delete pod %s` if a controller recreates it)",
				p.PodName(), p.Namespace, p.Namespace, p.Pod)
			break
		}
	}
	s += " (or make it call listen() again)"
	if prog := recognise(l.Processes); prog != nil && prog.relisten != "" {
		s += "; " + prog.relisten
	}
	return s
}

// ownerName names a listener's program by its first owner.
func ownerName(ps []model.Process) string {
	if len(ps) == 0 || ps[0].Comm == "" {
		return "the program"
	}
	return fmt.Sprintf("%s[%d]", ps[0].Comm, ps[0].PID)
}

// worse is the more severe of a and b.
func worse(a, b Severity) Severity {
	if b.Rank() > a.Rank() {
		return b
	}
	return a
}
