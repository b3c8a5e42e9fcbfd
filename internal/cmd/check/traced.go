package check

import (
	"context"
	"fmt"
	"time"

	"github.com/backlogctl/backlogctl/check"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/trace"
)

// minTraceInterval bounds how often a traced window re-reads the evidence
// and the queues (to time peaks and catch stalls that end early).
const minTraceInterval = 100 * time.Millisecond

// needsTrace reports whether any requirement is judged by eBPF tracing.
func needsTrace(reqs []check.Requirement) bool {
	for _, r := range reqs {
		if r.Expr.Subject.Traced() {
			return true
		}
	}
	return false
}

// tracing is a traced window running beside the sampled one.
type tracing struct {
	done   chan struct{}
	window *trace.Window
	err    error
}

// startTrace attaches the programs and starts the traced window, returning
// once what happens next is seen (or tracing failed).
func (o *Options) startTrace(ctx context.Context) *tracing {
	t := &tracing{done: make(chan struct{})}
	ready := make(chan struct{})
	wo := trace.WindowOptions{
		Duration: o.Observe, Interval: max(o.SampleInterval, minTraceInterval),
		Stall: o.Stall, ProcRoot: o.Roots.Proc,
		Gather: func() (*inspect.MultiSnapshot, error) {
			return o.Namespaces.Gather(inspect.Options{Roots: o.Roots, Ports: o.ports})
		},
		Ready:    func() { close(ready) },
		AllNetns: o.Namespaces.All, Listeners: o.TraceListeners, Mode: trace.Mode(o.TraceMode),
	}
	go func() {
		defer close(t.done)
		t.window, t.err = o.Trace(ctx, wo)
	}()
	select {
	case <-ready:
	case <-t.done:
	}
	return t
}

// finish waits for the traced window and gives every observation its
// evidence, or the reason it has none; note is the one line saying tracing
// was not possible ("" when it was).
func (t *tracing) finish(views []labelled) (note string) {
	<-t.done
	if t.err != nil {
		note = fmt.Sprintf("eBPF tracing unavailable (%v): judging the sampled subjects only", t.err)
		for _, v := range views {
			v.obs.Trace = &check.TraceStatus{Error: t.err.Error()}
		}
		return note
	}
	for _, v := range views {
		attachTrace(v.obs, v.inode, t.window)
	}
	return ""
}

// attachTrace joins the window's evidence to obs's listeners, by endpoint
// within namespace inode (a SO_REUSEPORT group's sockets are summed, their
// worst figures kept).
func attachTrace(obs *check.Observation, inode uint64, w *trace.Window) {
	st := &check.TraceStatus{Traced: true}
	seen := map[int]bool{}
	for _, l := range w.Report.Listeners {
		if l.Netns != inode {
			continue
		}
		for _, p := range l.Processes {
			if !seen[p.PID] {
				seen[p.PID] = true
				st.Owners = append(st.Owners, check.TracedOwner{PID: p.PID, Comm: p.Comm})
			}
		}
		for _, e := range l.AcceptErrors {
			st.AcceptErrors = append(st.AcceptErrors, check.ProcessAcceptErrors{PID: e.PID, Comm: e.Comm, Errno: e.Errno, Count: e.Count})
		}
	}
	for _, e := range w.Report.UnattributedAcceptErrors {
		if e.Netns == inode {
			st.AcceptErrors = append(st.AcceptErrors, check.ProcessAcceptErrors{PID: e.PID, Comm: e.Comm, Errno: e.Errno, Count: e.Count})
		}
	}
	obs.Trace = st
	for i := range obs.Listeners {
		l := &obs.Listeners[i]
		for _, tl := range w.Find(inode, l.Endpoint) {
			mark := w.Marks[trace.Key{Netns: tl.Netns, Cookie: tl.Cookie}]
			if l.Traced == nil {
				l.Traced = &check.TracedListener{}
			}
			t := l.Traced
			t.AcceptWaitP99 = max(t.AcceptWaitP99, tl.AcceptWait.P99)
			t.AcceptWaitMax = max(t.AcceptWaitMax, tl.AcceptWait.Max)
			t.HighWater = max(t.HighWater, tl.AcceptQueueHighWater)
			t.HighWaterFill = max(t.HighWaterFill, tl.HighWaterFill())
			t.Overflows += tl.Overflows.Total()
			stalled := max(mark.StallSeconds, tl.StalledSeconds)
			t.StalledSeconds = max(t.StalledSeconds, stalled)
			t.Stalled = t.Stalled || tl.Stalled || mark.StallSeconds > 0
		}
	}
}
