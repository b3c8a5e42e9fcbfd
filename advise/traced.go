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

// TraceEvidence is what eBPF tracing (backlogctl trace) saw at the listeners
// over a window: exact where the rules otherwise infer. The command side
// gathers it; the rules only read it.
type TraceEvidence struct {
	// Seconds is how long the window was traced.
	Seconds   float64          `json:"seconds"`
	Listeners []TracedListener `json:"listeners"`
	// SizingMeasured names the Sizing inputs taken from this evidence
	// ("rate", "accept_latency") rather than given.
	SizingMeasured []string `json:"sizing_measured,omitempty"`
}

// measuredNote says which sizing inputs tracing measured.
func (v *view) measuredNote() string {
	if v.in.Trace == nil || len(v.in.Trace.SizingMeasured) == 0 {
		return ""
	}
	note := fmt.Sprintf(" Measured by tracing over %.1fs: %s", v.in.Trace.Seconds, strings.Join(v.in.Trace.SizingMeasured, " and "))
	if len(v.in.Trace.SizingMeasured) == 1 {
		note += "; the other was given"
	}
	return note + "."
}

// TracedListener is one listener's traced evidence over the window.
type TracedListener struct {
	Address string `json:"address"`
	Port    uint16 `json:"port"`
	// Backlog is the effective backlog; a full queue holds Backlog+1.
	Backlog uint32 `json:"backlog"`
	// HighWater is the longest accept queue; HighWaterAt when it was
	// reached (to within the tracer's read interval), zero if unknown.
	HighWater   uint32    `json:"high_water"`
	HighWaterAt time.Time `json:"high_water_at"`
	// OverflowsSynTime are SYNs dropped with the queue full (derived from
	// counters); OverflowsAckTime final ACKs dropped (exact).
	OverflowsSynTime uint64 `json:"overflows_syn_time"`
	OverflowsAckTime uint64 `json:"overflows_ack_time"`
	Enqueued         uint64 `json:"enqueued"`
	Accepted         uint64 `json:"accepted"`
	// AcceptWait* are in seconds, from entering the queue to accept()
	// returning; P99 is a log2 bucket's upper bound, Max exact.
	AcceptWaitCount uint64  `json:"accept_wait_count"`
	AcceptWaitSum   float64 `json:"accept_wait_sum"`
	AcceptWaitP99   float64 `json:"accept_wait_p99"`
	AcceptWaitMax   float64 `json:"accept_wait_max"`
	// AcceptErrors are failed accept() calls by process and errno.
	AcceptErrors []TracedAcceptErrors `json:"accept_errors"`
	// StallSeconds is the longest time the queue held StallQueue
	// connections with no accept(); StallOwners the owners then.
	StallSeconds float64       `json:"stall_seconds"`
	StallQueue   uint32        `json:"stall_queue"`
	StallOwners  []TracedOwner `json:"stall_owners,omitempty"`
}

// TracedAcceptErrors counts one process's failed accept() calls with one errno.
type TracedAcceptErrors struct {
	PID   int    `json:"pid"`
	Comm  string `json:"comm"`
	Errno string `json:"errno"`
	Count uint64 `json:"count"`
}

// TracedOwner is a listener's owner and its scheduler state ("T (stopped)").
type TracedOwner struct {
	PID   int    `json:"pid"`
	Comm  string `json:"comm"`
	State string `json:"state"`
}

// Overflows is the connections dropped because the queue was full.
func (t TracedListener) Overflows() uint64 { return t.OverflowsSynTime + t.OverflowsAckTime }

// ArrivalRate is connections per second that reached the accept queue or
// were dropped because it was full, over seconds.
func (t TracedListener) ArrivalRate(seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return float64(t.Enqueued+t.Overflows()) / seconds
}

// MeanAcceptWait is the mean accept-queue wait, Little's law's W.
func (t TracedListener) MeanAcceptWait() time.Duration {
	if t.AcceptWaitCount == 0 {
		return 0
	}
	return time.Duration(t.AcceptWaitSum / float64(t.AcceptWaitCount) * float64(time.Second))
}

func (t TracedListener) slow() bool {
	return t.AcceptWaitP99 >= SlowAcceptWait.Seconds()
}

// Busiest is the listener with the highest arrival rate, for sizing; false
// when nothing arrived anywhere.
func (e *TraceEvidence) Busiest() (TracedListener, bool) {
	var best TracedListener
	found := false
	for _, l := range e.Listeners {
		if l.Enqueued+l.Overflows() > 0 && (!found || l.ArrivalRate(e.Seconds) > best.ArrivalRate(e.Seconds)) {
			best, found = l, true
		}
	}
	return best, found
}

// tracedFindings judge the traced evidence: accept() errors, overflows with
// the exact high water, stalls with the owner's state, slow acceptors.
func tracedFindings(v *view) []Finding {
	ev := v.in.Trace
	if ev == nil {
		return nil
	}
	var out []Finding
	for _, t := range ev.Listeners {
		subject := ListenerSubject(t.Address, t.Port)
		out = append(out, acceptErrorFindings(v, ev, t, subject)...)
		if f, ok := tracedOverflowFinding(v, t, subject); ok {
			out = append(out, f)
		}
		if t.StallSeconds > 0 {
			out = append(out, stallFinding(t, subject))
		}
		if t.slow() && t.Overflows() == 0 {
			out = append(out, Finding{
				ID: "traced-slow-acceptor", Severity: Warning, Subject: subject,
				Reason: fmt.Sprintf("p99 accept wait %s (max %s, %d accepted): the acceptor is slow, not the backlog; a longer queue would only make clients wait longer.",
					seconds(t.AcceptWaitP99), seconds(t.AcceptWaitMax), t.AcceptWaitCount),
				Fix:      "find why the program is slow to call accept() (busy or blocked event loop, too few workers or threads)",
				Evidence: map[string]float64{"accept_wait_p99_seconds": t.AcceptWaitP99, "accept_wait_max_seconds": t.AcceptWaitMax, "accepted": float64(t.AcceptWaitCount)},
			})
		}
	}
	return out
}

// acceptErrorFindings: one finding per process and errno, critical for the
// descriptor and memory errors that leave connections in the queue.
func acceptErrorFindings(v *view, ev *TraceEvidence, t TracedListener, subject string) []Finding {
	var out []Finding
	for _, e := range t.AcceptErrors {
		f := Finding{
			ID: "traced-accept-errors", Severity: Warning, Subject: PIDSubject(e.PID), Listener: subject,
			Evidence: map[string]float64{"count": float64(e.Count), "seconds": ev.Seconds},
		}
		who := fmt.Sprintf("%s[%d] got %s %d times in %.1fs", e.Comm, e.PID, e.Errno, e.Count, ev.Seconds)
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
func tracedOverflowFinding(v *view, t TracedListener, subject string) (Finding, bool) {
	full := uint64(t.Backlog) + 1
	if uint64(t.HighWater) < full && t.Overflows() == 0 {
		return Finding{}, false
	}
	at := ""
	if !t.HighWaterAt.IsZero() {
		at = " at " + t.HighWaterAt.Local().Format("15:04:05.0")
	}
	f := Finding{
		ID: "traced-queue-overflow", Severity: Warning, Subject: subject,
		Evidence: map[string]float64{"high_water": float64(t.HighWater), "capacity": float64(full),
			"overflows_syn_time": float64(t.OverflowsSynTime), "overflows_ack_time": float64(t.OverflowsAckTime),
			"accept_wait_p99_seconds": t.AcceptWaitP99},
	}
	f.Reason = fmt.Sprintf("the queue reached %d of %d%s", t.HighWater, full, at)
	if t.Overflows() > 0 {
		f.Severity = Critical
		f.Reason += fmt.Sprintf(" (%d overflows at final-ACK time, %d at SYN time)", t.OverflowsAckTime, t.OverflowsSynTime)
	}
	f.Reason += "."
	if t.StallSeconds > 0 {
		f.Reason += fmt.Sprintf(" Its owner accepted nothing for %.1fs with %d waiting (traced-stall): the queue overflowed because nothing took from it, and a bigger backlog would only hold more connections nobody accepts.",
			t.StallSeconds, t.StallQueue)
		f.Fix = "make the program accept again (see traced-stall) before sizing the backlog"
		return f, true
	}
	if t.slow() {
		f.Reason += fmt.Sprintf(" p99 accept wait %s: the acceptor is slow, not the backlog.", seconds(t.AcceptWaitP99))
		f.Fix = "find why the program is slow to call accept(); a longer queue would only make clients wait longer"
		return f, true
	}
	l, ok := v.listener(t.Address, t.Port)
	if !ok {
		f.Fix = "raise the listener's backlog"
		return f, true
	}
	want := nextPow2(2 * int64(full))
	if v.in.Sizing != nil {
		want = max(want, v.in.Sizing.Backlog())
	}
	f.Current, f.Recommended = int64p(int64(t.Backlog)), int64p(want)
	if somax, known := v.sysctl("net.core.somaxconn"); known && int64(t.Backlog) >= somax {
		target := v.raisedSomaxconn(somax)
		f.Key, f.Current, f.Recommended = "net.core.somaxconn", int64p(somax), int64p(target)
		f.Fix = fmt.Sprintf("its backlog equals somaxconn: set net.core.somaxconn=%d, then restart the program so it calls listen() again", target)
		return f, true
	}
	f.Fix = programFix(l, want)
	return f, true
}

func stallFinding(t TracedListener, subject string) Finding {
	who := "its owner"
	var states []string
	if len(t.StallOwners) > 0 {
		names := make([]string, 0, len(t.StallOwners))
		for _, o := range t.StallOwners {
			names = append(names, fmt.Sprintf("%s[%d]", o.Comm, o.PID))
			if o.State != "" {
				states = append(states, o.State)
			}
		}
		who = strings.Join(names, ", ")
	}
	reason := fmt.Sprintf("%s accepted nothing for %.1fs with %d waiting", who, t.StallSeconds, t.StallQueue)
	if len(states) > 0 {
		reason += " (state: " + strings.Join(states, ", ") + ")"
	}
	return Finding{
		ID: "traced-stall", Severity: Critical, Subject: subject,
		Reason:   reason + ": clients wait for nothing, then time out.",
		Fix:      "find why the program stopped calling accept() (stopped, blocked, deadlocked or overloaded)",
		Evidence: map[string]float64{"stall_seconds": t.StallSeconds, "waiting": float64(t.StallQueue)},
	}
}

// listener finds a listener in the snapshot by address and port.
func (v *view) listener(address string, port uint16) (model.Listener, bool) {
	for _, l := range v.now.Listeners {
		if l.Address == address && l.Port == port {
			return l, true
		}
	}
	return model.Listener{}, false
}

// seconds prints a wait in ms below a second.
func seconds(s float64) string {
	if s < 1 {
		return fmt.Sprintf("%.3g ms", s*1000)
	}
	return fmt.Sprintf("%.2f s", s)
}
