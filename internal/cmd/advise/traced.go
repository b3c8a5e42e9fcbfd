package advise

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/nsflag"
	"github.com/backlogctl/backlogctl/trace"
)

// Traced-window defaults: how often the evidence and queues are re-read
// (the resolution of a high-water time), and the stall threshold.
const (
	traceReadInterval = 100 * time.Millisecond
	traceStall        = time.Second
)

// traceWindow traces this namespace's listeners for o.Trace. A nil window
// with a warning means tracing was not possible: the caller has then only
// waited the same time, and judges two samples instead.
func (o *Options) traceWindow(ports []uint16) (*advise.TraceEvidence, string) {
	ev, err := Trace(o.TraceWindow, TraceOptions{Roots: o.Roots, Ports: ports, Duration: o.Trace})
	if err != nil {
		o.Sleep(o.Trace)
		return nil, fmt.Sprintf("%s (%v): judging two samples %s apart instead", TraceUnavailable, err, o.Trace)
	}
	return ev, ""
}

// TraceUnavailable begins the warning --trace gives where the kernel does
// not allow tracing.
const TraceUnavailable = "eBPF tracing unavailable"

// TraceOptions say what Trace traces: this namespace's listeners (on
// Ports, if any) for Duration.
type TraceOptions struct {
	Roots    hostfs.Roots
	Ports    []uint16
	Duration time.Duration
}

// Trace runs a traced window with window (trace.Observe, or a fake) and
// returns it as advise's model: the one gatherer of traced evidence for
// advise and tune.
func Trace(window func(context.Context, trace.WindowOptions) (*trace.Window, error), o TraceOptions) (*advise.TraceEvidence, error) {
	w, err := window(context.Background(), trace.WindowOptions{
		Duration: o.Duration, Interval: traceReadInterval, Stall: traceStall, ProcRoot: o.Roots.Proc,
		Gather: func() (*inspect.MultiSnapshot, error) {
			return nsflag.Flags{}.Gather(inspect.Options{Roots: o.Roots, Ports: o.Ports})
		},
	})
	if err != nil {
		return nil, err
	}
	return TraceEvidence(w), nil
}

// TraceEvidence is advise's model of a traced window.
func TraceEvidence(w *trace.Window) *advise.TraceEvidence {
	ev := &advise.TraceEvidence{Seconds: w.Seconds, Listeners: []advise.TracedListener{}}
	for _, l := range w.Report.Listeners {
		mark := w.Marks[trace.Key{Netns: l.Netns, Cookie: l.Cookie}]
		t := advise.TracedListener{
			Address: l.Address, Port: l.Port, Backlog: l.Backlog,
			HighWater: l.AcceptQueueHighWater, HighWaterAt: mark.HighWaterAt,
			OverflowsSynTime: l.Overflows.SynTime, OverflowsAckTime: l.Overflows.AckTime,
			Enqueued: l.Enqueued, Accepted: l.Accepted,
			AcceptWaitCount: l.AcceptWait.Count, AcceptWaitSum: l.AcceptWait.Sum,
			AcceptWaitP99: l.AcceptWait.P99, AcceptWaitMax: l.AcceptWait.Max,
			AcceptErrors: []advise.TracedAcceptErrors{},
			StallSeconds: mark.StallSeconds, StallQueue: mark.StallQueue,
		}
		if l.Stalled && l.StalledSeconds > t.StallSeconds {
			t.StallSeconds, t.StallQueue, mark.StallOwners = l.StalledSeconds, l.AcceptQueue, l.Processes
		}
		for _, p := range mark.StallOwners {
			t.StallOwners = append(t.StallOwners, advise.TracedOwner{PID: p.PID, Comm: p.Comm, State: p.State})
		}
		for _, e := range l.AcceptErrors {
			t.AcceptErrors = append(t.AcceptErrors, advise.TracedAcceptErrors{PID: e.PID, Comm: e.Comm, Errno: e.Errno, Count: e.Count})
		}
		ev.Listeners = append(ev.Listeners, t)
	}
	return ev
}

// measuredSizing fills what --rate and --accept-latency left out from the
// busiest traced listener: its arrival rate, and its mean accept wait
// (Little's law's W). Nothing is measured when nothing arrived, and the wait
// is not measured when nothing was accepted or the listener stalled (its
// waits then say how long nobody accepted, not how long accepting takes).
func (o *Options) measuredSizing(in *advise.Input) {
	busiest, ok := in.Trace.Busiest()
	if !ok {
		return
	}
	if !o.LatencySet && (busiest.AcceptWaitCount == 0 || busiest.StallSeconds > 0) {
		return
	}
	s := advise.Sizing{Rate: o.Rate, AcceptLatency: o.AcceptLatency}
	var measured []string
	if !o.RateSet {
		s.Rate = busiest.ArrivalRate(in.Trace.Seconds)
		measured = append(measured, fmt.Sprintf("rate (%s)", advise.ListenerSubject(busiest.Address, busiest.Port)))
	}
	if !o.LatencySet {
		if s.AcceptLatency = busiest.MeanAcceptWait(); s.AcceptLatency <= 0 {
			s.AcceptLatency = time.Nanosecond // accepted within the clock's resolution
		}
		measured = append(measured, "accept_latency (mean wait)")
	}
	if len(measured) > 0 && s.Validate() == nil {
		in.Sizing, in.Trace.SizingMeasured = &s, measured
	}
}

// StallOwners names the owners of stalled listeners the programs could not
// (no accept() seen from them while tracing), from the final snapshot's
// /proc scan, with their state now.
func StallOwners(ev *advise.TraceEvidence, snap *inspect.Snapshot, roots hostfs.Roots) {
	procRoot := roots.WithDefaults().Proc
	for i := range ev.Listeners {
		t := &ev.Listeners[i]
		if t.StallSeconds == 0 || len(t.StallOwners) > 0 {
			continue
		}
		for _, l := range snap.Listeners {
			if l.Address != t.Address || l.Port != t.Port {
				continue
			}
			pids := make([]int, 0, len(l.Processes))
			for _, p := range l.Processes {
				pids = append(pids, p.PID)
			}
			states := trace.OwnerStates(procRoot, pids)
			for _, p := range l.Processes {
				// An SO_REUSEPORT group's members share the endpoint and
				// usually their owners: each owner is named once.
				if !slices.ContainsFunc(t.StallOwners, func(o advise.TracedOwner) bool { return o.PID == p.PID }) {
					t.StallOwners = append(t.StallOwners, advise.TracedOwner{PID: p.PID, Comm: p.Comm, State: states[p.PID].State})
				}
			}
		}
	}
}
