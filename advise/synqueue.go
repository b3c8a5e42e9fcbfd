package advise

import (
	"fmt"

	"github.com/backlogctl/backlogctl/model"
)

// synQueueFindings: a listener whose half-open requests fill its effective
// backlog has a full SYN queue — since 4.4 the cap is min(backlog, somaxconn),
// not tcp_max_syn_backlog (inet_csk_reqsk_queue_is_full) — so new SYNs are
// answered with cookies (syncookies 1) or dropped (0). Full is judged by the
// running kernel's rule (synQueueRule). An SO_REUSEPORT group shares one
// request count, so it is judged once, against the sum of its members'
// backlogs (each member may have its own).
func synQueueFindings(v *view) []Finding {
	mode, ok := v.sysctl("net.ipv4.tcp_syncookies")
	if !ok || mode == 2 || before44(v.now.Kernel) { // mode 2 keeps no request sockets
		return nil
	}
	rule := synQueueRule(v.now.Kernel)
	somax, somaxKnown := v.sysctl("net.core.somaxconn")
	groupLimit := map[int]int64{}
	for _, l := range v.now.Listeners {
		if l.SynQueueShared && l.ReuseportSize > 1 {
			groupLimit[l.ReuseportGroup] += int64(l.AcceptQueueMax)
		}
	}
	var out []Finding
	judged := map[int]bool{}
	for _, l := range v.now.Listeners {
		limit := int64(l.AcceptQueueMax)
		if l.SynQueueShared && l.ReuseportSize > 1 {
			if judged[l.ReuseportGroup] {
				continue
			}
			judged[l.ReuseportGroup] = true
			limit = groupLimit[l.ReuseportGroup]
		}
		if !rule.full(int64(l.SynQueue), limit) {
			continue
		}
		out = append(out, v.synQueueFinding(l, limit, rule, mode, somax, somaxKnown))
	}
	return out
}

func (v *view) synQueueFinding(l model.Listener, limit int64, rule synFullRule, mode, somax int64, somaxKnown bool) Finding {
	f := Finding{
		ID: "syn-queue-full", Severity: Info, Subject: SubjectOf(l),
		Evidence: map[string]float64{
			"syn_queue": float64(l.SynQueue), "backlog": float64(l.AcceptQueueMax), "tcp_syncookies": float64(mode),
		},
	}
	cap := fmt.Sprintf("its backlog %d", l.AcceptQueueMax)
	if limit != int64(l.AcceptQueueMax) {
		cap = fmt.Sprintf("the %d backlogs of its SO_REUSEPORT group, %d in all", l.ReuseportSize, limit)
		f.Evidence["group_backlog"] = float64(limit)
		f.Evidence["reuseport_size"] = float64(l.ReuseportSize)
	}
	effect := "new SYNs are answered with syncookies: the connections work, but without timestamps they lose window scaling and SACK"
	if mode == 0 {
		f.Severity = Warning
		effect = "with syncookies off, new SYNs are dropped (TcpExtTCPReqQFullDrop)"
	}
	f.Reason = fmt.Sprintf("%d half-open requests against %s, the SYN queue's cap (inet_csk_reqsk_queue_is_full; tcp_max_syn_backlog is not it): %s. %s. Under a SYN flood syncookies are the defence; for real load the backlog is too small.",
		l.SynQueue, cap, rule.text(), effect)
	if limit == 0 && rule != synFullAbove {
		f.Reason += " With a backlog of 0 this rule keeps the SYN queue always full."
	}
	if somaxKnown {
		f.Evidence["somaxconn"] = float64(somax)
	}
	if somaxKnown && int64(l.AcceptQueueMax) >= somax {
		want := v.raisedSomaxconn(somax)
		f.Key, f.Current, f.Recommended = "net.core.somaxconn", int64p(somax), int64p(want)
		f.Fix = fmt.Sprintf("raise net.core.somaxconn to %d, then restart the program so it calls listen() again", want)
		return f
	}
	want := somax
	if v.in.Sizing != nil || want <= int64(l.AcceptQueueMax) {
		want = v.raisedBacklog(int64(l.AcceptQueueMax))
	}
	f.Current = int64p(int64(l.AcceptQueueMax))
	if want > 0 {
		f.Recommended = int64p(want)
	}
	f.Fix = programFix(l, want) + clampNote(somax, somaxKnown, want)
	return f
}
