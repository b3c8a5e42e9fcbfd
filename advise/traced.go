package advise

import (
	"fmt"
	"strings"
	"time"

	"github.com/backlogctl/backlogctl/model"
)

// SlowAcceptWait is the p99 accept-queue wait above which the acceptor, not
// the backlog, is what makes clients wait: a longer queue only lengthens it.
const SlowAcceptWait = 100 * time.Millisecond

// measuredNote says which sizing inputs tracing measured.
func (v *view) measuredNote() string {
	if v.in.TraceSeconds == 0 || len(v.in.SizingMeasured) == 0 {
		return ""
	}
	note := fmt.Sprintf(" Measured by tracing over %.1fs: %s", v.in.TraceSeconds, strings.Join(v.in.SizingMeasured, " and "))
	if len(v.in.SizingMeasured) == 1 {
		note += "; the other was given"
	}
	return note + "."
}

// slow reports whether t's p99 accept wait says the acceptor is slow.
func slow(t *model.Traced) bool {
	return t.AcceptWait.Quantile(0.99) >= SlowAcceptWait.Seconds()
}

// stalled is how long t's queue was held with no accept() over the traced
// window, when that reached the stall threshold; 0 otherwise.
func (v *view) stalled(t *model.Traced) float64 {
	if t.Stall.Held > 0 && t.Stall.Held >= v.in.TraceStall {
		return t.Stall.Held.Seconds()
	}
	return 0
}

// Busiest is the traced listener of snap with the highest arrival rate
// over seconds, for sizing; false when nothing arrived anywhere.
func Busiest(snap *model.Snapshot, seconds float64) (*model.Listener, bool) {
	var best *model.Listener
	for i := range snap.Listeners {
		l := &snap.Listeners[i]
		t := l.Traced
		if t == nil || t.Enqueued+t.Overflows.Total() == 0 {
			continue
		}
		if best == nil || t.ArrivalRate(seconds) > best.Traced.ArrivalRate(seconds) {
			best = l
		}
	}
	return best, best != nil
}

// MeasureSizing fills what --rate and --accept-latency left out (rateSet,
// latencySet) from the busiest traced listener: its arrival rate, and its
// mean accept wait (Little's law's W). Nothing is measured when nothing
// arrived, and the wait is not measured when nothing was accepted or the
// listener stalled (its waits then say how long nobody accepted, not how
// long accepting takes).
func MeasureSizing(in *Input, rate float64, rateSet bool, latency time.Duration, latencySet bool) {
	if in.TraceSeconds == 0 || in.Now.Snapshot == nil {
		return
	}
	busiest, ok := Busiest(in.Now.Snapshot, in.TraceSeconds)
	if !ok {
		return
	}
	t := busiest.Traced
	v := &view{in: *in}
	if !latencySet && (t.AcceptWait.Count == 0 || v.stalled(t) > 0) {
		return
	}
	s := Sizing{Rate: rate, AcceptLatency: latency}
	var measured []string
	if !rateSet {
		s.Rate = t.ArrivalRate(in.TraceSeconds)
		measured = append(measured, fmt.Sprintf("rate (%s)", ListenerSubject(busiest.Address, busiest.Port)))
	}
	if !latencySet {
		if s.AcceptLatency = t.AcceptWait.Mean(); s.AcceptLatency <= 0 {
			s.AcceptLatency = time.Nanosecond // accepted within the clock's resolution
		}
		measured = append(measured, "accept_latency (mean wait)")
	}
	if len(measured) > 0 && s.Validate() == nil {
		in.Sizing, in.SizingMeasured = &s, measured
	}
}

// tracedFindings judge the traced evidence: accept() errors, overflows with
// the exact high water, stalls with the owner's state, slow acceptors.
func tracedFindings(v *view) []Finding {
	if v.in.TraceSeconds == 0 {
		return nil
	}
	var out []Finding
	for i := range v.now.Listeners {
		l := &v.now.Listeners[i]
		t := l.Traced
		if t == nil {
			continue
		}
		subject := ListenerSubject(l.Address, l.Port)
		out = append(out, acceptErrorFindings(v, t, subject)...)
		if f, ok := tracedOverflowFinding(v, l, subject); ok {
			out = append(out, f)
		}
		if v.stalled(t) > 0 {
			out = append(out, stallFinding(v, t, subject))
		}
		if slow(t) && t.Overflows.Total() == 0 {
			p99, mx := t.AcceptWait.Quantile(0.99), t.AcceptWait.Max()
			out = append(out, Finding{
				ID: "traced-slow-acceptor", Severity: Warning, Subject: subject,
				Reason: fmt.Sprintf("p99 accept wait %s (max %s, %d accepted): the acceptor is slow, not the backlog; a longer queue would only make clients wait longer.",
					seconds(p99), seconds(mx), t.AcceptWait.Count),
				Fix:      "find why the program is slow to call accept() (busy or blocked event loop, too few workers or threads)",
				Evidence: map[string]float64{"accept_wait_p99_seconds": p99, "accept_wait_max_seconds": mx, "accepted": float64(t.AcceptWait.Count)},
			})
		}
	}
	return out
}

// acceptErrorFindings: one finding per process and errno, critical for the
// descriptor and memory errors that leave connections in the queue.
func acceptErrorFindings(v *view, t *model.Traced, subject string) []Finding {
	var out []Finding
	for _, e := range t.AcceptErrors {
		f := Finding{
			ID: "traced-accept-errors", Severity: Warning, Subject: PIDSubject(e.PID), Listener: subject,
			Evidence: map[string]float64{"count": float64(e.Count), "seconds": v.in.TraceSeconds},
		}
		who := fmt.Sprintf("%s[%d] got %s %d times in %.1fs", e.Comm, e.PID, e.Errno, e.Count, v.in.TraceSeconds)
		switch e.Errno {
		case "EMFILE":
			f.Severity = Critical
			f.Reason = who + ": it is at its descriptor limit (RLIMIT_NOFILE); each failed accept() leaves the connection in the queue."
			f.Fix = v.emfileFix(e.PID)
		case "ENFILE":
			f.Severity, f.Key, f.Current = Critical, "fs.file-max", v.sysctlp("fs.file-max")
			f.Reason = who + ": the host is out of file descriptors (fs.file-max)."
			f.Fix = "raise fs.file-max, and find what holds the descriptors"
		case "ENOBUFS", "ENOMEM":
			f.Severity = Critical
			f.Reason = who + ": the kernel could not allocate the new socket (memory pressure)."
			f.Fix = "check memory pressure and the cgroup's memory limit"
		default:
			f.Reason = who + "."
		}
		out = append(out, f)
	}
	return out
}

// emfileFix says how to raise pid's descriptor limit.
func (v *view) emfileFix(pid int) string {
	if unit := v.in.Units[pid]; unit != "" {
		return fmt.Sprintf("raise LimitNOFILE= for %s (a drop-in: systemctl edit %s), then restart it", unit, unit)
	}
	return "raise the process's RLIMIT_NOFILE (ulimit -n, or prlimit --nofile), or its own setting such as nginx worker_rlimit_nofile"
}

// tracedOverflowFinding: the queue reached backlog+1, with the overflows at
// each site, and whether the backlog or the acceptor is to blame.
func tracedOverflowFinding(v *view, l *model.Listener, subject string) (Finding, bool) {
	t := l.Traced
	backlog := l.AcceptQueueMax
	full := uint64(backlog) + 1
	if uint64(t.HighWater) < full && t.Overflows.Total() == 0 {
		return Finding{}, false
	}
	at := ""
	if !t.HighWaterAt.IsZero() {
		at = " at " + t.HighWaterAt.Local().Format("15:04:05.0")
	}
	p99 := t.AcceptWait.Quantile(0.99)
	f := Finding{
		ID: "traced-queue-overflow", Severity: Warning, Subject: subject,
		Evidence: map[string]float64{"high_water": float64(t.HighWater), "capacity": float64(full),
			"overflows_syn_time": float64(t.Overflows.SynTime), "overflows_ack_time": float64(t.Overflows.AckTime),
			"overflows_cookie_ack_time": float64(t.Overflows.CookieAckTime),
			"accept_wait_p99_seconds":   p99},
	}
	f.Reason = fmt.Sprintf("the queue reached %d of %d%s", t.HighWater, full, at)
	if t.Overflows.Total() > 0 {
		f.Severity = Critical
		f.Reason += fmt.Sprintf(" (%d overflows: %d at final-ACK time, %d at SYN-cookie ACKs, %d at SYN time)",
			t.Overflows.Total(), t.Overflows.AckTime, t.Overflows.CookieAckTime, t.Overflows.SynTime)
	}
	f.Reason += "."
	if stall := v.stalled(t); stall > 0 {
		f.Reason += fmt.Sprintf(" Its owner accepted nothing for %.1fs with %d waiting (traced-stall): the queue overflowed because nothing took from it, and a bigger backlog would only hold more connections nobody accepts.",
			stall, t.Stall.Queue)
		f.Fix = "make the program accept again (see traced-stall) before sizing the backlog"
		return f, true
	}
	if slow(t) {
		f.Reason += fmt.Sprintf(" p99 accept wait %s: the acceptor is slow, not the backlog.", seconds(p99))
		f.Fix = "find why the program is slow to call accept(); a longer queue would only make clients wait longer"
		return f, true
	}
	want := nextPow2(2 * int64(full))
	if v.in.Sizing != nil {
		want = max(want, v.in.Sizing.Backlog())
	}
	f.Current, f.Recommended = int64p(int64(backlog)), int64p(want)
	if somax, known := v.sysctl("net.core.somaxconn"); known && int64(backlog) >= somax {
		target := v.raisedSomaxconn(somax)
		f.Key, f.Current, f.Recommended = "net.core.somaxconn", int64p(somax), int64p(target)
		f.Fix = fmt.Sprintf("its backlog equals somaxconn: set net.core.somaxconn=%d, then restart the program so it calls listen() again", target)
		return f, true
	}
	f.Fix = programFix(v.first(l), want)
	return f, true
}

func stallFinding(v *view, t *model.Traced, subject string) Finding {
	who := "its owner"
	var states []string
	stall := v.stalled(t)
	if len(t.Stall.Owners) > 0 {
		names := make([]string, 0, len(t.Stall.Owners))
		for _, o := range t.Stall.Owners {
			names = append(names, fmt.Sprintf("%s[%d]", o.Comm, o.PID))
			if o.State != "" {
				states = append(states, o.State)
			}
		}
		who = strings.Join(names, ", ")
	}
	reason := fmt.Sprintf("%s accepted nothing for %.1fs with %d waiting", who, stall, t.Stall.Queue)
	if len(states) > 0 {
		reason += " (state: " + strings.Join(states, ", ") + ")"
	}
	return Finding{
		ID: "traced-stall", Severity: Critical, Subject: subject,
		Reason:   reason + ": clients wait for nothing, then time out.",
		Fix:      "find why the program stopped calling accept() (stopped, blocked, deadlocked or overloaded)",
		Evidence: map[string]float64{"stall_seconds": stall, "waiting": float64(t.Stall.Queue)},
	}
}

// first is the first listener of the snapshot at l's address and port: an
// SO_REUSEPORT group's findings name the program fix of one member.
func (v *view) first(l *model.Listener) model.Listener {
	for _, o := range v.now.Listeners {
		if o.Address == l.Address && o.Port == l.Port {
			return o
		}
	}
	return *l
}

// seconds prints a wait in ms below a second.
func seconds(s float64) string {
	if s < 1 {
		return fmt.Sprintf("%.3g ms", s*1000)
	}
	return fmt.Sprintf("%.2f s", s)
}
