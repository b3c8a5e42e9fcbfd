package advise

import (
	"fmt"
	"math"
	"time"

	"github.com/backlogctl/backlogctl/model"
)

// BurstHeadroom multiplies the mean queue length from Little's law: arrivals
// are bursty, and a queue sized for the mean overflows half the time.
const BurstHeadroom = 2

// DefaultSomaxconn is the kernel's compiled SOMAXCONN since Linux 5.4 (128
// before), what a new network namespace starts with.
const DefaultSomaxconn = 4096

// maxBacklog is the largest somaxconn the kernel accepts (proc_dointvec_minmax, INT_MAX).
const maxBacklog = math.MaxInt32

// Sizing describes the load a listener must absorb.
type Sizing struct {
	// Rate is new connections per second at the peak.
	Rate float64 `json:"rate"`
	// AcceptLatency is how long a completed connection waits before the
	// program calls accept() on it.
	AcceptLatency time.Duration `json:"accept_latency"`
}

// MeanQueue is Little's law: the mean number of connections waiting in the
// accept queue is the arrival rate times the time each waits.
func (s Sizing) MeanQueue() float64 { return s.Rate * s.AcceptLatency.Seconds() }

// Backlog is the recommended listen() backlog: MeanQueue × BurstHeadroom,
// rounded up to a power of two, at most INT_MAX (Capped).
func (s Sizing) Backlog() int64 {
	if s.Capped() {
		return maxBacklog
	}
	return nextPow2(int64(math.Ceil(s.MeanQueue() * BurstHeadroom)))
}

// Capped reports that the load asks for more than the largest backlog the
// kernel allows (INT_MAX, somaxconn's ceiling), so Backlog is that ceiling.
// A product too large for a float (1e308 connections/s) is capped too.
func (s Sizing) Capped() bool {
	return !(s.MeanQueue()*BurstHeadroom <= 1<<30)
}

// Validate rejects a sizing the rules cannot use.
func (s Sizing) Validate() error {
	if math.IsNaN(s.Rate) || math.IsInf(s.Rate, 0) || s.Rate <= 0 {
		return fmt.Errorf("rate %v: want a number of connections per second above 0", s.Rate)
	}
	if s.AcceptLatency <= 0 {
		return fmt.Errorf("accept latency %v: want a duration above 0", s.AcceptLatency)
	}
	return nil
}

// nextPow2 rounds n up to a power of two, at least 1 and at most maxBacklog.
func nextPow2(n int64) int64 {
	if n >= 1<<30 {
		return maxBacklog
	}
	p := int64(1)
	for p < n {
		p <<= 1
	}
	return p
}

// raisedSomaxconn is what to raise somaxconn to for a clamped listener: at
// least the modern default, double the current value, and the sized backlog.
func (v *view) raisedSomaxconn(current int64) int64 {
	target := max(DefaultSomaxconn, nextPow2(2*current))
	if v.in.Sizing != nil {
		target = max(target, v.in.Sizing.Backlog())
	}
	return min(target, maxBacklog)
}

// sizingFindings compares every listener's effective backlog and somaxconn
// with the backlog the given rate and latency need.
func sizingFindings(v *view) []Finding {
	s := v.in.Sizing
	if s == nil {
		return nil
	}
	want := s.Backlog()
	ev := map[string]float64{
		"rate_per_second":   s.Rate,
		"accept_latency_ms": float64(s.AcceptLatency) / float64(time.Millisecond),
		// A float's largest value stands for one too large to hold (JSON has no Inf).
		"mean_queue":          min(s.MeanQueue(), math.MaxFloat64),
		"headroom_factor":     BurstHeadroom,
		"recommended_backlog": float64(want),
	}
	sized := fmt.Sprintf("rounded up to a power of two = %d", want)
	if s.Capped() {
		ev["capped"] = 1
		sized = fmt.Sprintf("more than any listener can have: capped at %d (INT_MAX, the largest somaxconn the kernel accepts)", want)
	}
	reason := fmt.Sprintf("Little's law: %s connections/s × %s waiting for accept() = %s queued on average; ×%d headroom for bursts, %s.",
		model.Num(s.Rate), model.Duration(s.AcceptLatency), queueText(s.MeanQueue()), BurstHeadroom, sized) + v.measuredNote()
	if l, ok := v.sizedListener(); ok && !s.Capped() {
		// Never below what the listener sized has, nor what overflowed it.
		subject, backlog := SubjectOf(*l), int64(l.AcceptQueueMax)
		t := l.Traced
		switch {
		case t != nil && want <= backlog && (t.Overflows.Total() > 0 || t.HighWater > l.AcceptQueueMax):
			want = v.raisedBacklog(backlog)
			reason += fmt.Sprintf(" That is no more than %s's backlog %d, yet its queue filled in the window: the connections came in a burst that a mean does not show, so %d, twice what filled, rounded up to a power of two.", subject, backlog, want)
		case want < backlog:
			want = backlog
			reason += fmt.Sprintf(" %s's backlog %d already holds that: nothing to raise (advise never recommends a smaller backlog).", subject, backlog)
		}
		ev["recommended_backlog"] = float64(want)
	}
	out := []Finding{{
		ID: "backlog-sizing", Severity: Info, Subject: "sizing",
		Recommended: int64p(want),
		Reason:      reason,
		Evidence:    ev,
	}}
	somax, known := v.sysctl("net.core.somaxconn")
	if known && somax < want {
		out = append(out, Finding{
			ID: "somaxconn-below-sizing", Severity: Warning, Subject: "net.core.somaxconn",
			Key: "net.core.somaxconn", Current: int64p(somax), Recommended: int64p(want),
			Reason:   fmt.Sprintf("listen() clamps every backlog to somaxconn (%d), below the %d this load needs (net/socket.c __sys_listen_socket).", somax, want),
			Fix:      fmt.Sprintf("set net.core.somaxconn=%d, then restart the servers so they call listen() again", want),
			Evidence: map[string]float64{"somaxconn": float64(somax), "recommended_backlog": float64(want)},
		})
	}
	for _, l := range v.now.Listeners {
		backlog := int64(l.AcceptQueueMax)
		if backlog >= want {
			continue
		}
		f := Finding{
			ID: "listener-below-sizing", Severity: Warning, Subject: SubjectOf(l),
			Current: int64p(backlog), Recommended: int64p(want),
			Evidence: map[string]float64{"backlog": float64(backlog), "recommended_backlog": float64(want)},
		}
		if known && backlog >= somax {
			f.Reason = fmt.Sprintf("its backlog %d equals somaxconn: the program's own backlog was probably clamped; it needs %d.", backlog, want)
			f.Fix = fmt.Sprintf("raise net.core.somaxconn to %d, then restart the program so it calls listen() again", want)
		} else {
			f.Reason = fmt.Sprintf("its effective backlog %d is below the %d this load needs; it comes from the program's own listen() call.", backlog, want)
			f.Fix = programFix(l, want) + clampNote(somax, known, want)
		}
		out = append(out, f)
	}
	return out
}

// sizedListener is the listener sizing is about: the busiest traced one,
// whose load was measured, or the only TCP listener in view (--port).
func (v *view) sizedListener() (*model.Listener, bool) {
	if v.in.TraceSeconds > 0 && len(v.in.SizingMeasured) > 0 {
		return Busiest(v.now, v.in.TraceSeconds)
	}
	var only *model.Listener
	for i := range v.now.Listeners {
		if l := &v.now.Listeners[i]; !l.IsUnix() {
			if only != nil {
				return nil, false
			}
			only = l
		}
	}
	return only, only != nil
}

// SizedBacklog is the backlog the backlog-sizing finding among fs
// recommends, and false when there is none: what --rate and
// --accept-latency (or the traced load) call for, never below the sized
// listener's backlog.
func SizedBacklog(fs []Finding) (int64, bool) {
	f, ok := FindingByID(fs, "backlog-sizing", "")
	if !ok || f.Recommended == nil {
		return 0, false
	}
	return *f.Recommended, true
}

// queueText prints a mean queue length: one decimal, or in e-notation when
// it is too large for a digit-by-digit number to mean anything.
func queueText(q float64) string {
	if q < 1e9 {
		return fmt.Sprintf("%.1f", q)
	}
	return fmt.Sprintf("%.3g", q)
}

// clampNote warns, for a fix raising a program's backlog to want, that
// somaxconn must be raised too when it is lower: listen() would clamp it.
func clampNote(somax int64, known bool, want int64) string {
	if !known || somax >= want {
		return ""
	}
	return fmt.Sprintf("; somaxconn (%d) must also be raised to %d or listen() will clamp it", somax, want)
}
