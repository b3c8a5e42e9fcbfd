package exporter

import (
	"fmt"
	"math"
	"sync"

	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/metrics"
	"github.com/backlogctl/backlogctl/trace"
)

// tracer is exporter --trace's eBPF collector, read at each scrape.
type tracer struct {
	src      trace.Source
	procRoot string

	mu       sync.Mutex
	baseline *trace.Baseline
}

// startTracer attaches the programs; a refusal is the one-line warning the
// exporter prints before serving without tracing.
func (o *Options) startTracer() (*tracer, string) {
	start := o.StartTrace
	if start == nil {
		start = trace.Open
	}
	src, err := start()
	if err != nil {
		return nil, fmt.Sprintf("eBPF tracing unavailable (%v): serving the sampled metrics only, backlogctl_trace_up 0", err)
	}
	return &tracer{src: src, procRoot: o.Roots.Proc}, ""
}

// read is the scrape's metrics.TracedSource: the evidence since the
// programs were attached, joined to snapshot m for the derived figures, and
// the high water since the previous read (each read closes an interval).
func (t *tracer) read(m *inspect.MultiSnapshot) (*metrics.Traced, error) {
	ev, err := t.src.Snapshot()
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	if t.baseline == nil {
		// The first scrape's counters are the baseline of the derived
		// SYN-time overflows; those before it are not attributed.
		b := trace.NewBaseline(m)
		t.baseline = &b
	}
	base := *t.baseline
	t.mu.Unlock()
	procRoot := t.procRoot
	if procRoot == "" {
		procRoot = "/proc"
	}
	r := trace.Join(ev, trace.JoinInput{Base: base, Now: m, Stall: math.MaxInt64,
		States: trace.OwnerStates(procRoot, errorPIDs(ev))})
	out := &metrics.Traced{Listeners: map[metrics.TracedKey]*metrics.TracedListener{}}
	for _, l := range r.Listeners {
		k := trace.Key{Netns: l.Netns, Cookie: l.Cookie}
		tl := &metrics.TracedListener{HighWater: l.IntervalHighWater,
			OverflowsSynTime: l.Overflows.SynTime, OverflowsAckTime: l.Overflows.AckTime,
			Drops: l.Drops, WaitCount: l.AcceptWait.Count, WaitSum: l.AcceptWait.Sum}
		if le := ev.Listeners[k]; le != nil {
			tl.WaitBuckets = trace.LogBuckets(le.AcceptWait)
		}
		out.Listeners[metrics.TracedKey{Netns: l.Netns, Cookie: l.Cookie}] = tl
		for _, e := range l.AcceptErrors {
			out.AcceptErrors = append(out.AcceptErrors, metrics.TracedAcceptErrors{Netns: e.Netns, PID: e.PID, Comm: e.Comm, Errno: e.Errno, Count: e.Count})
		}
	}
	for _, e := range r.UnattributedAcceptErrors {
		out.AcceptErrors = append(out.AcceptErrors, metrics.TracedAcceptErrors{Netns: e.Netns, PID: e.PID, Comm: e.Comm, Errno: e.Errno, Count: e.Count})
	}
	return out, nil
}

// errorPIDs are the processes whose accept() failed: their names label
// backlogctl_process_accept_errors_total.
func errorPIDs(ev *trace.Evidence) []int {
	var pids []int
	for _, le := range ev.Listeners {
		for _, e := range le.AcceptErrors {
			pids = append(pids, e.PID)
		}
	}
	for _, e := range ev.UnattributedErrors {
		pids = append(pids, e.PID)
	}
	return pids
}

func (t *tracer) Close() error { return t.src.Close() }
