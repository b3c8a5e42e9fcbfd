package advise

import (
	"fmt"
	"strings"

	"github.com/backlogctl/backlogctl/model"
)

// blockedOwners are l's owners that cannot accept: stopped (T, or t under
// a debugger) or in uninterruptible sleep (D), per /proc/PID/stat.
func blockedOwners(ps []model.Process) (stopped, stuck []model.Process) {
	for _, o := range ps {
		switch o.State {
		case "T", "t":
			stopped = append(stopped, o)
		case "D":
			stuck = append(stuck, o)
		}
	}
	return stopped, stuck
}

// notAcceptingFinding: nobody takes connections from the listener's queue.
// In every mode, its owners' state says so when all of them are stopped (T)
// or, with connections waiting, stuck in the kernel (D), per
// /proc/PID/stat: a stopped server is the finding, whatever its backlog.
// Over an interval, a queue that holds connections and does not drain is
// also proven not accepting when no handshake completed into it while it
// stayed as long (TcpPassiveOpens counts every child socket created,
// tcp_create_openreq_child, so queue_before + opens - queue_now bounds what
// was accepted), or, for a Unix listener, when the same connection is first
// in its queue at both samples. A bigger backlog would only hold more
// connections nobody accepts.
func (v *view) notAcceptingFinding(l model.Listener, p pressure) (Finding, bool) {
	stopped, stuck := blockedOwners(l.Processes)
	var b *model.ListenerWindow
	if v.sampled() {
		b, _ = v.beforeListener(l.Inode)
	}
	held := b != nil && b.FirstAcceptQueue > 0 && l.AcceptQueue >= b.FirstAcceptQueue
	allBlocked := len(l.Processes) > 0 && len(stopped)+len(stuck) == len(l.Processes)
	if allBlocked && len(stopped) == 0 && !held {
		// D alone is often a moment's I/O: only a queue that did not drain
		// over an interval shows it is not accepting.
		allBlocked = false
	}
	opens, opensKnown := v.counter("TcpPassiveOpens")
	if l.IsUnix() || !v.sampled() {
		opensKnown = false // TCP's counter, judged over an interval
	}
	proven, headHeld := false, false
	if held {
		// At most this many connections left the queue during the interval.
		acceptedAtMost := int64(b.FirstAcceptQueue) + int64(opens) - int64(l.AcceptQueue)
		proven = opensKnown && acceptedAtMost <= 0
		// A Unix listener's queue is first in, first out: the same oldest
		// connection at both samples means accept() took none.
		headHeld = l.IsUnix() && b.FirstQueueHead != 0 && l.QueueHead == b.FirstQueueHead
		proven = proven || headHeld
	}
	if !proven && !allBlocked {
		return Finding{}, false
	}
	sev := Warning
	if p.full || p.drops > 0 {
		sev = Critical
	}
	who := ownerList(l.Processes)
	if len(stopped)+len(stuck) > 0 {
		who = ownerList(append(stopped, stuck...))
	}
	var what string
	switch {
	case b != nil && b.FirstAcceptQueue > 0:
		what = fmt.Sprintf("its accept queue held %d and holds %d after %v (backlog %d)", b.FirstAcceptQueue, l.AcceptQueue, v.in.Interval, l.AcceptQueueMax)
	case l.AcceptQueue > 0:
		what = fmt.Sprintf("its accept queue holds %d (backlog %d), and every connection that arrives waits there until its client gives up", l.AcceptQueue, l.AcceptQueueMax)
	default:
		what = fmt.Sprintf("its accept queue is empty now (backlog %d), but every connection that arrives will wait there until its client gives up", l.AcceptQueueMax)
	}
	switch {
	case headHeld:
		what += ", and the connection that was oldest in it then is still first in line (accept() takes the oldest), so none was accepted"
	case proven && opens == 0:
		what += ", and no handshake completed in that time (TcpPassiveOpens), so none was accepted"
	case proven:
		what += fmt.Sprintf(", and only %d handshakes completed in that time (TcpPassiveOpens), all still queued, so none was accepted", opens)
	}
	if p.full && p.fullBefore && p.drops > 0 {
		what += fmt.Sprintf("; it was full at both samples while its drop count rose by %d", p.drops)
	}
	var state []string
	for _, o := range stopped {
		state = append(state, fmt.Sprintf("%s[%d] is stopped (state %s in /proc/%d/stat: SIGSTOP, or a debugger)", o.Comm, o.PID, o.State, o.PID))
	}
	for _, o := range stuck {
		state = append(state, fmt.Sprintf("%s[%d] is in uninterruptible sleep (state D in /proc/%d/stat: blocked in the kernel, usually on disk or network filesystem I/O)", o.Comm, o.PID, o.PID))
	}
	verb := "is"
	if strings.Contains(who, ", ") {
		verb = "are"
	}
	reason := fmt.Sprintf("%s %s not accepting: %s.", who, verb, what)
	failing, out := v.failedAccepts(l)
	switch {
	case len(state) > 0:
		reason += " " + strings.Join(state, "; ") + "."
	case failing != "":
		// The same run's trace saw accept() called and failing: the program
		// is not idle, it is out of descriptors.
		reason += " " + failing
	case len(l.Processes) > 0:
		reason += fmt.Sprintf(" Its owners are running or sleeping (%s), so the program is alive but does not call accept().", ownerStates(l.Processes))
	}
	reason += " A bigger backlog would only hold more connections nobody accepts."
	var fix string
	switch {
	case failing != "" && len(stopped)+len(stuck) == 0:
		fix = out
	case len(stopped) > 0:
		pids := make([]string, len(stopped))
		for i, o := range stopped {
			pids[i] = fmt.Sprint(o.PID)
		}
		fix = fmt.Sprintf("resume it (`kill -CONT %s`) if it was stopped by mistake, or %s", strings.Join(pids, " "), restartText(l, v.in.Units))
	case len(stuck) > 0:
		fix = fmt.Sprintf("find what it is blocked on (/proc/%d/stack, /proc/%d/wchan: a disk, an NFS mount); if it does not recover, %s", stuck[0].PID, stuck[0].PID, restartText(l, v.in.Units))
	default:
		fix = "look at what its accepting thread is doing (a deadlock, a full worker pool, a blocked event loop: `gdb -p`, `py-spy dump`, `jstack`), then " + restartText(l, v.in.Units)
	}
	ev := v.listenerEvidence(l, p)
	if opensKnown {
		ev[v.counterKey("TcpPassiveOpens")] = float64(opens)
	}
	if len(stopped) > 0 {
		ev["owners_stopped"] = float64(len(stopped))
	}
	if len(stuck) > 0 {
		ev["owners_blocked"] = float64(len(stuck))
	}
	for _, o := range l.Processes {
		if o.State != "" {
			ev[fmt.Sprintf("pid_%d_stopped", o.PID)] = boolFloat(o.State == "T" || o.State == "t")
		}
	}
	return Finding{
		ID: "listener-not-accepting", Severity: sev,
		Subject: SubjectOf(l),
		Reason:  reason, Fix: fix, Evidence: ev,
	}, true
}

// failedAccepts says, when the traced window saw l's owners call accept()
// and fail for want of a descriptor (EMFILE at RLIMIT_NOFILE, ENFILE at
// fs.file-max), that the queue holds because of it, and the fix; "" when
// tracing saw no such failure.
func (v *view) failedAccepts(l model.Listener) (reason, fix string) {
	if l.Traced == nil {
		return "", ""
	}
	var parts []string
	for _, e := range l.Traced.AcceptErrors {
		if e.Errno != "EMFILE" && e.Errno != "ENFILE" {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s[%d] got %s %d times in %.1fs", e.Comm, e.PID, e.Errno, e.Count, v.in.TraceSeconds))
		if fix == "" {
			fix = "raise fs.file-max, and find what holds the descriptors (see traced-accept-errors)"
			if e.Errno == "EMFILE" {
				fix = v.emfileFix(&l, e)
			}
		}
	}
	if len(parts) == 0 {
		return "", ""
	}
	return fmt.Sprintf("Its owners call accept() and it fails (%s, traced): the program is out of file descriptors, not idle, and every connection it cannot accept stays queued.",
		strings.Join(parts, "; ")), fix
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// ownerList names processes as "nginx[100], nginx[101]", or "the program".
func ownerList(ps []model.Process) string {
	if len(ps) == 0 {
		return "the program"
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = fmt.Sprintf("%s[%d]", p.Comm, p.PID)
	}
	return strings.Join(names, ", ")
}

// ownerStates lists owners with their /proc state letters.
func ownerStates(ps []model.Process) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		st := p.State
		if st == "" {
			st = "?"
		}
		parts[i] = fmt.Sprintf("%s[%d] %s", p.Comm, p.PID, st)
	}
	return strings.Join(parts, ", ")
}
