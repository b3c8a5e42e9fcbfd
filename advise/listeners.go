package advise

import (
	"fmt"

	"github.com/backlogctl/backlogctl/inspect"
)

// listenerFindings judges each listener whose accept queue overflows: the
// cause is descriptors (its owner at RLIMIT_NOFILE), somaxconn (it clamped
// the listener) or the program's own backlog (below somaxconn).
func listenerFindings(v *view) []Finding {
	var out []Finding
	somax, known := v.sysctl("net.core.somaxconn")
	reported := map[int]bool{} // pids already given a descriptor finding
	for _, l := range v.now.Listeners {
		p := v.pressureOf(l)
		if !p.active(v.sampled()) && !p.historic(v.sampled()) {
			if known && int64(l.AcceptQueueMax) > somax {
				out = append(out, v.loweredFinding(l, p, somax))
			}
			continue
		}
		if owner, ok := ownerAtLimit(l); ok {
			if !reported[owner.PID] {
				reported[owner.PID] = true
				out = append(out, v.nofileFinding(l, owner, p))
			}
			continue
		}
		if known && int64(l.AcceptQueueMax) >= somax {
			out = append(out, v.clampedFinding(l, p, somax))
		} else {
			out = append(out, v.programFinding(l, p, somax, known))
		}
	}
	return out
}

// overflowText says how the listener overflowed, for a reason. The drop
// count is the socket's sk_drops: an ACK dropped for overflow adds 2 to it
// (tcp_check_req, then tcp_v4_rcv's discard path), so it is not a count of
// connections.
func (v *view) overflowText(l inspect.Listener, p pressure) string {
	var s string
	switch {
	case p.full:
		s = fmt.Sprintf("its accept queue is full (%d waiting, backlog %d: the kernel holds backlog+1)", l.AcceptQueue, l.AcceptQueueMax)
	case v.sampled():
		s = fmt.Sprintf("its drop count rose by %d in %v", p.drops, v.in.Interval)
	default:
		s = fmt.Sprintf("its drop count is %d since it was created", p.drops)
	}
	if v.sampled() && !p.full && p.drops > 0 {
		s += "; the queue was not full when sampled, so the overflows come in bursts: sample faster (backlogctl watch) to see them"
	}
	return s
}

// note is sinceBootNote for findings built on totals only, not on a queue full now.
func (v *view) note(p pressure) string {
	if p.historic(v.sampled()) && !p.active(v.sampled()) {
		return sinceBootNote
	}
	return ""
}

// clampedFinding: the listener's backlog equals somaxconn, so listen() probably
// clamped a larger request; raising somaxconn helps once it listens again.
func (v *view) clampedFinding(l inspect.Listener, p pressure, somax int64) Finding {
	want := v.raisedSomaxconn(somax)
	return Finding{
		ID: "somaxconn-clamps-listener", Severity: v.severityOf(p),
		Subject: ListenerSubject(l.Address, l.Port), Key: "net.core.somaxconn",
		Current: int64p(somax), Recommended: int64p(want),
		Reason: fmt.Sprintf("%s, and its backlog %d equals net.core.somaxconn: listen() clamps a larger backlog to somaxconn (net/socket.c __sys_listen_socket), so the program probably asked for more.%s",
			v.overflowText(l, p), l.AcceptQueueMax, v.note(p)),
		Fix:      fmt.Sprintf("raise net.core.somaxconn to %d, then make the program call listen() again (usually a restart): the clamp happens only at listen() time", want),
		Evidence: v.listenerEvidence(l, p),
	}
}

// programFinding: the backlog is below somaxconn, so it is the program's own
// setting; somaxconn would change nothing.
func (v *view) programFinding(l inspect.Listener, p pressure, somax int64, known bool) Finding {
	var want int64
	if known {
		want = somax // the most the program can get without touching sysctls
	}
	if v.in.Sizing != nil {
		want = v.in.Sizing.Backlog()
	}
	why := fmt.Sprintf("its backlog %d is below net.core.somaxconn (%d), so it is the program's own listen() backlog: raising somaxconn would change nothing.", l.AcceptQueueMax, somax)
	if !known {
		why = fmt.Sprintf("its backlog is %d; net.core.somaxconn is not visible here, so whether it clamped the program's backlog is unknown.", l.AcceptQueueMax)
	}
	f := Finding{
		ID: "listener-backlog-too-small", Severity: v.severityOf(p),
		Subject:  ListenerSubject(l.Address, l.Port),
		Current:  int64p(int64(l.AcceptQueueMax)),
		Reason:   fmt.Sprintf("%s; %s%s", v.overflowText(l, p), why, v.note(p)),
		Fix:      programFix(l, want) + clampNote(somax, known, want),
		Evidence: v.listenerEvidence(l, p),
	}
	if want > 0 {
		f.Recommended = int64p(want)
	}
	return f
}

// loweredFinding: somaxconn was lowered after the listener called listen();
// the next listen() (a restart) will clamp it.
func (v *view) loweredFinding(l inspect.Listener, p pressure, somax int64) Finding {
	return Finding{
		ID: "somaxconn-lowered-since-listen", Severity: Info,
		Subject: ListenerSubject(l.Address, l.Port), Key: "net.core.somaxconn",
		Current: int64p(somax), Recommended: int64p(int64(l.AcceptQueueMax)),
		Reason: fmt.Sprintf("its backlog %d is above net.core.somaxconn (%d): somaxconn was lowered after it called listen(), and a restart will clamp it to %d (net/socket.c __sys_listen_socket).",
			l.AcceptQueueMax, somax, somax),
		Fix:      fmt.Sprintf("before restarting it, raise net.core.somaxconn to at least %d, or accept the smaller queue", l.AcceptQueueMax),
		Evidence: v.listenerEvidence(l, p),
	}
}
