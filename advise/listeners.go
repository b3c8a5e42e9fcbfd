package advise

import (
	"fmt"

	"github.com/backlogctl/backlogctl/model"
)

// listenerFindings judges each listener. In order: an owner that stopped
// accepting; a listener that kept the clamp of a somaxconn backlogctl has
// since raised; drops known only as a total since creation (history); drops
// that are not overflows (attributed from the counters); and overflows,
// whose cause is descriptors (its owner at RLIMIT_NOFILE), somaxconn (it
// clamped the listener) or the program's own backlog (below somaxconn).
func listenerFindings(v *view) []Finding {
	var out []Finding
	somax, known := v.sysctl("net.core.somaxconn")
	reported := map[int]bool{} // pids already given a descriptor finding
	for _, l := range v.now.Listeners {
		p := v.pressureOf(l)
		if f, ok := v.notAcceptingFinding(l, p); ok {
			out = append(out, f)
			continue
		}
		if f, ok := v.predatesFinding(l, p, somax, known); ok {
			out = append(out, f)
			continue
		}
		if !p.active(v.sampled()) && !p.historic(v.sampled()) {
			if known && int64(l.AcceptQueueMax) > somax {
				out = append(out, v.loweredFinding(l, p, somax))
			}
			continue
		}
		if !p.active(v.sampled()) {
			out = append(out, v.historyFinding(l, p, somax, known))
			continue
		}
		if a := v.causeOf(l, p); a.cause != causeOverflow {
			out = append(out, v.causeFinding(l, p, a))
			continue
		} else if owner, ok := ownerAtLimit(l); ok {
			if !reported[owner.PID] {
				reported[owner.PID] = true
				out = append(out, v.nofileFinding(l, owner, p))
			}
			continue
		} else if known && int64(l.AcceptQueueMax) == somax {
			f := v.clampedFinding(l, p, somax)
			f.Reason += a.othersNote(v)
			out = append(out, f)
		} else {
			f := v.programFinding(l, p, somax, known)
			f.Reason += a.othersNote(v)
			out = append(out, f)
		}
	}
	return out
}

// overflowText says how the listener overflowed, for a reason. The drop
// count is the socket's sk_drops: an ACK dropped for overflow adds 2 to it
// (tcp_check_req, then tcp_v4_rcv's discard path), so it is not a count of
// connections.
func (v *view) overflowText(l model.Listener, p pressure) string {
	var s string
	switch {
	case p.full && p.unix:
		s = fmt.Sprintf("its accept queue is full (%d waiting, backlog %d: the kernel holds backlog+1), so a connect() to it now fails with EAGAIN when non-blocking (nginx logs \"Resource temporarily unavailable\" and answers 502) or waits when blocking, and the kernel counts neither", l.AcceptQueue, l.AcceptQueueMax)
		if p.fullBefore {
			s += fmt.Sprintf("; it was full at both samples, %v apart", v.in.Interval)
		}
	case p.full:
		s = fmt.Sprintf("its accept queue is full (%d waiting, backlog %d: the kernel holds backlog+1)", l.AcceptQueue, l.AcceptQueueMax)
	case v.sampled():
		s = fmt.Sprintf("its drop count rose by %d in %v", p.drops, v.in.Interval)
		if n, ok := v.counter("TcpExtListenOverflows"); ok {
			s += fmt.Sprintf(" while TcpExtListenOverflows rose by %d", n)
		}
	default:
		s = fmt.Sprintf("its drop count is %d since it was created and its accept queue is not full now", p.total)
	}
	if v.sampled() && !p.active(true) {
		s = fmt.Sprintf("its drop count is %d since it was created (none in the last %v) and its accept queue is not full now", p.total, v.in.Interval)
	}
	if v.sampled() && !p.full && p.drops > 0 {
		s += "; the queue was not full when sampled, so the overflows come in bursts: sample faster (backlogctl watch) to see them"
	}
	return s
}

// note is createdNote for findings built on a drop total only, not on a
// queue full now.
func (v *view) note(p pressure) string {
	switch {
	case !p.historic(v.sampled()):
		return ""
	case v.sampled():
		return " The drops are from before the interval: they survive reloads that keep the socket."
	}
	return createdNote
}

// clampedFinding: the listener's backlog equals somaxconn, so listen() probably
// clamped a larger request; raising somaxconn helps once it listens again.
func (v *view) clampedFinding(l model.Listener, p pressure, somax int64) Finding {
	want := v.raisedSomaxconn(somax)
	sev := v.severityOf(p)
	if !p.active(v.sampled()) {
		// A clamp with drops since creation stays a finding tune acts on:
		// the clamp is in place now, whatever the interval shows.
		sev = Warning
	}
	return Finding{
		ID: "somaxconn-clamps-listener", Severity: sev,
		Subject: SubjectOf(l), Key: "net.core.somaxconn",
		Current: int64p(somax), Recommended: int64p(want),
		Reason: fmt.Sprintf("%s, and its backlog %d equals net.core.somaxconn: listen() clamps a larger backlog to somaxconn (net/socket.c __sys_listen_socket), so the program probably asked for more.%s",
			v.overflowText(l, p), l.AcceptQueueMax, v.note(p)),
		Fix:      fmt.Sprintf("raise net.core.somaxconn to %d, then %s: the clamp happens only at listen() time", want, restartText(l, v.in.Units)),
		Evidence: v.listenerEvidence(l, p),
	}
}

// programFinding: the backlog is below somaxconn, so it is the program's own
// setting (or a clamp from before somaxconn was raised, which backlogctl did
// not record); somaxconn would change nothing.
func (v *view) programFinding(l model.Listener, p pressure, somax int64, known bool) Finding {
	var want int64
	if known {
		want = somax // the most the program can get without touching sysctls
	}
	if v.in.Sizing != nil || known && want <= int64(l.AcceptQueueMax) {
		// The sized backlog, and never less than twice what overflowed.
		want = v.raisedBacklog(int64(l.AcceptQueueMax))
	}
	var why string
	switch {
	case !known:
		why = fmt.Sprintf("its backlog is %d; net.core.somaxconn is not visible here, so whether it clamped the program's backlog is unknown.", l.AcceptQueueMax)
	case int64(l.AcceptQueueMax) > somax:
		why = fmt.Sprintf("its backlog %d is above net.core.somaxconn (%d): somaxconn was lowered after it called listen(), so the backlog is the program's own request or an older somaxconn.", l.AcceptQueueMax, somax)
	case l.ConfiguredBacklog != nil && configuredEffective(l.ConfiguredBacklog, somax) == int64(l.AcceptQueueMax):
		// The program's own configuration says so: no hedge needed.
		why = fmt.Sprintf("its backlog %d is the program's own: %s, below net.core.somaxconn (%d), so raising somaxconn would change nothing.", l.AcceptQueueMax, configuredText(l.ConfiguredBacklog), somax)
	default:
		why = fmt.Sprintf("its backlog %d is below net.core.somaxconn (%d), so it is the program's own listen() backlog and raising somaxconn would change nothing — unless the listener predates a raise of somaxconn that backlogctl did not make (a listener keeps the clamp it got at listen(); a restart would tell).", l.AcceptQueueMax, somax)
	}
	f := Finding{
		ID: "listener-backlog-too-small", Severity: v.severityOf(p),
		Subject:  SubjectOf(l),
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

// historyFinding: drops counted since the socket was created, with no
// current evidence (no interval, queue not full now). A total since creation
// spans reloads and earlier fixes, so it is reported as history, never as a
// reason to raise a value again. A clamp still in place is the exception,
// unless backlogctl raised somaxconn to the very backlog the listener has:
// then it has been fixed and its drops may be older than the fix.
func (v *view) historyFinding(l model.Listener, p pressure, somax int64, known bool) Finding {
	fixed, fixedAt := false, ""
	if c, ok := v.lastChange("net.core.somaxconn"); ok && known && c.To == somax && c.To > c.From {
		fixed, fixedAt = int64(l.AcceptQueueMax) == somax, c.At.Format("2006-01-02 15:04:05 MST")
	}
	if known && int64(l.AcceptQueueMax) == somax && !fixed {
		f := v.clampedFinding(l, p, somax)
		f.Reason += " If somaxconn was already raised and the program restarted since those drops, they are history."
		return f
	}
	why := "a total since creation spans reloads that keep the socket (nginx keeps its listening sockets) and earlier fixes, so it is not a reason to change a value."
	if fixed {
		why = fmt.Sprintf("backlogctl raised net.core.somaxconn to %d at %s and the listener has that backlog now, so those drops may predate the fix.", somax, fixedAt)
	}
	return Finding{
		ID: "listener-drops-history", Severity: Info,
		Subject: SubjectOf(l),
		Reason: fmt.Sprintf("its drop count is %d since the socket was created, its accept queue is not full now (%d waiting, backlog %d), and %s: %s",
			p.total, l.AcceptQueue, l.AcceptQueueMax, v.noRise(), why),
		Fix:      "run `backlogctl advise --interval 10s` (or watch) under load: a rise over an interval is evidence, a total is history",
		Evidence: v.listenerEvidence(l, p),
	}
}

// loweredFinding: somaxconn was lowered after the listener called listen();
// the next listen() (a restart) will clamp it.
func (v *view) loweredFinding(l model.Listener, p pressure, somax int64) Finding {
	return Finding{
		ID: "somaxconn-lowered-since-listen", Severity: Info,
		Subject: SubjectOf(l), Key: "net.core.somaxconn",
		Current: int64p(somax), Recommended: int64p(int64(l.AcceptQueueMax)),
		Reason: fmt.Sprintf("its backlog %d is above net.core.somaxconn (%d): somaxconn was lowered after it called listen(), and a restart will clamp it to %d (net/socket.c __sys_listen_socket).",
			l.AcceptQueueMax, somax, somax),
		Fix:      fmt.Sprintf("before restarting it, raise net.core.somaxconn to at least %d, or accept the smaller queue", l.AcceptQueueMax),
		Evidence: v.listenerEvidence(l, p),
	}
}

// noRise says what shows the drops are not current.
func (v *view) noRise() string {
	if v.sampled() {
		return fmt.Sprintf("it did not rise in %v", v.in.Interval)
	}
	return "there is no interval to show whether it still rises"
}
