package collect

import (
	"cmp"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/trace"
)

// tracer is a tracing session: the attached programs (or a recording) and
// the baseline the derived figures count from. Each read of the programs
// closes an interval of their high water, so a session has one reader.
type tracer struct {
	src   trace.Source
	roots hostfs.Roots

	mu   sync.Mutex
	base *baseline
}

// startTracer attaches the programs. A refusal (trace.Unavailable) means
// nothing was attached.
func startTracer(o Options) (*tracer, error) {
	src, err := o.openTrace()
	if err != nil {
		return nil, err
	}
	return &tracer{src: src, roots: o.Roots.WithDefaults()}, nil
}

func (t *tracer) close() error {
	if t == nil {
		return nil
	}
	return t.src.Close()
}

// baseline is what sock_diag and the counters said when tracing started,
// for the derived figures.
type baseline struct {
	// overflows is TcpExtListenOverflows by namespace inode.
	overflows map[uint64]uint64
	// drops is each listener's own drop count (sk_drops).
	drops map[trace.Key]uint32
}

// setBaseline records m's counters and listener drop counts, once: the
// first snapshot after the programs were attached.
func (t *tracer) setBaseline(m *model.MultiSnapshot) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.base != nil {
		return
	}
	b := &baseline{overflows: map[uint64]uint64{}, drops: map[trace.Key]uint32{}}
	for _, ns := range m.Namespaces {
		b.overflows[ns.Netns.Inode] = ns.Counters["TcpExtListenOverflows"]
		for _, l := range ns.Listeners {
			b.drops[trace.Key{Netns: ns.Netns.Inode, Cookie: l.Cookie}] = l.DropCount()
		}
	}
	t.base = b
}

// read reads the programs' maps and joins the evidence to m, the snapshot
// just taken: every listener gets its Traced (zero counts when nothing
// happened to it), every namespace its unattributed accept() errors, and m
// its TraceInfo. The first snapshot joined is the baseline when none was
// set.
func (t *tracer) read(m *model.MultiSnapshot, stall time.Duration) error {
	ev, err := t.src.Snapshot()
	if err != nil {
		return err
	}
	t.setBaseline(m)
	t.mu.Lock()
	base := *t.base
	t.mu.Unlock()
	t.join(ev, m, base)
	return nil
}

// join gives m's listeners ev's evidence, by socket cookie within each
// namespace.
func (t *tracer) join(ev *trace.Evidence, m *model.MultiSnapshot, base baseline) {
	states := t.states(tracedPIDs(ev, m))
	for _, ns := range m.Namespaces {
		inode := ns.Netns.Inode
		for i := range ns.Listeners {
			l := &ns.Listeners[i]
			if l.IsUnix() {
				continue // the programs trace TCP listeners: no evidence, not zero evidence
			}
			l.Traced = traced(l, ev.Listeners[trace.Key{Netns: inode, Cookie: l.Cookie}], ev, states)
		}
		deriveSynTime(ns, ev, base)
		ns.UnattributedAcceptErrors = []model.AcceptErrors{}
		for _, e := range ev.UnattributedErrors {
			if e.Netns == inode {
				// Without a listener there is no owner to name it by.
				ns.UnattributedAcceptErrors = append(ns.UnattributedAcceptErrors, model.AcceptErrors{PID: e.PID, Errno: e.Errno, Count: e.Count})
			}
		}
		model.SortAcceptErrors(ns.UnattributedAcceptErrors)
	}
	m.Trace = &model.TraceInfo{Since: ev.Since, Time: ev.Time,
		Tracer: model.Tracer{Programs: programs(t.src.Hooks()), MapMemoryBytes: t.src.Memory(), RSSBytes: t.selfRSS()}}
}

// traced is l's evidence, le (nil: none was counted), joined to the
// sampled listener: a queue the programs saw no event of held sock_diag's
// length throughout.
func traced(l *model.Listener, le *trace.ListenerEvidence, ev *trace.Evidence, states map[int]procState) *model.Traced {
	t := &model.Traced{At: ev.Time, HighWater: l.AcceptQueue, IntervalHighWater: l.AcceptQueue,
		SynQueueHighWater: l.SynQueue, Drops: map[string]uint64{}, AcceptErrors: []model.AcceptErrors{}, Owners: []model.TracedOwner{}}
	for _, p := range l.Processes {
		t.Owners = append(t.Owners, model.TracedOwner{PID: p.PID, Comm: p.Comm, State: model.StateName(states[p.PID].state)})
	}
	// Without a /proc walk, the process that accepted last is the owner.
	if le != nil && len(t.Owners) == 0 && le.LastAcceptPID > 0 {
		if st, ok := states[le.LastAcceptPID]; ok {
			t.Owners = append(t.Owners, model.TracedOwner{PID: le.LastAcceptPID, Comm: st.comm, State: model.StateName(st.state)})
		}
	}
	waitingSince := ev.Since
	if le != nil {
		t.HighWater = max(t.HighWater, le.AcceptQueueHighWater)
		if le.Tracked {
			// Otherwise no enqueue or accept was seen since tracing began.
			t.IntervalHighWater = le.IntervalHighWater
		}
		t.SynQueueHighWater = max(t.SynQueueHighWater, le.SynQueueHighWater)
		t.Enqueued, t.Accepted = le.Enqueued, le.Accepted
		maps.Copy(t.Drops, le.Drops)
		t.Overflows.AckTime = le.Drops[trace.ListenOverflowReason]
		w := le.AcceptWait
		t.AcceptWait = model.WaitHistogram{Buckets: w.Buckets, Count: w.Count, SumNs: w.SumNs, MaxNs: w.MaxNs, Unmatched: w.Unmatched}
		for _, e := range le.AcceptErrors {
			t.AcceptErrors = append(t.AcceptErrors, acceptErrors(e, states))
		}
		model.SortAcceptErrors(t.AcceptErrors)
		for _, at := range []time.Time{le.LastAccept, le.WaitingSince} {
			if at.After(waitingSince) {
				waitingSince = at
			}
		}
	}
	t.Held = ev.Time.Sub(waitingSince)
	return t
}

// The programs count waits in as many buckets as the model holds.
var _ = [model.WaitBuckets]uint64(trace.Wait{}.Buckets)

func acceptErrors(e trace.AcceptErrors, states map[int]procState) model.AcceptErrors {
	return model.AcceptErrors{PID: e.PID, Comm: states[e.PID].comm, Errno: e.Errno, Count: e.Count}
}

// deriveSynTime fills Overflows.SynTime for one namespace's listeners: the
// namespace's ListenOverflows rise not seen as ACK-time overflows is shared
// out to the listeners whose own drop count rose more than the drops
// kfree_skb saw at them, most unexplained first.
func deriveSynTime(ns model.NamespaceSnapshot, ev *trace.Evidence, base baseline) {
	before, ok := base.overflows[ns.Netns.Inode]
	now := ns.Counters["TcpExtListenOverflows"]
	if !ok || now < before {
		return
	}
	remaining := now - before
	for k, le := range ev.Listeners {
		if k.Netns == ns.Netns.Inode {
			remaining -= min(remaining, le.Drops[trace.ListenOverflowReason])
		}
	}
	ls := ns.Listeners
	unexplained := make([]uint64, len(ls))
	order := make([]int, len(ls))
	for i := range ls {
		order[i] = i
		k := trace.Key{Netns: ns.Netns.Inode, Cookie: ls[i].Cookie}
		rise := uint64(ls[i].DropCount() - base.drops[k]) // sk_drops wraps as a u32
		var seen uint64
		for _, n := range ls[i].Traced.Drops {
			seen += n
		}
		if rise > seen {
			unexplained[i] = rise - seen
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(unexplained[b], unexplained[a]) })
	for _, i := range order {
		n := min(unexplained[i], remaining)
		ls[i].Traced.Overflows.SynTime = n
		remaining -= n
	}
}

// tracedPIDs are the processes the join names: the snapshot's owners and
// the last accepting process and accept() failers of each listener in the
// snapshot's namespaces (the programs see every namespace).
func tracedPIDs(ev *trace.Evidence, m *model.MultiSnapshot) []int {
	seen := map[int]bool{}
	var pids []int
	add := func(pid int) {
		if pid > 0 && !seen[pid] {
			seen[pid] = true
			pids = append(pids, pid)
		}
	}
	reported := map[uint64]bool{}
	for _, ns := range m.Namespaces {
		reported[ns.Netns.Inode] = true
		for _, l := range ns.Listeners {
			for _, p := range l.Processes {
				add(p.PID)
			}
		}
	}
	for _, le := range ev.Listeners {
		if reported[le.Netns] {
			add(le.LastAcceptPID)
			for _, e := range le.AcceptErrors {
				add(e.PID)
			}
		}
	}
	for _, e := range ev.UnattributedErrors {
		if reported[e.Netns] {
			add(e.PID)
		}
	}
	return pids
}

// procState is a process's name and scheduler state letter.
type procState struct{ comm, state string }

// states reads each pid's name and state; a process that is gone is left out.
func (t *tracer) states(pids []int) map[int]procState {
	out := map[int]procState{}
	for _, pid := range pids {
		st, err := t.roots.Stat(pid)
		if err != nil {
			continue
		}
		comm, _ := t.roots.Comm(pid)
		out[pid] = procState{comm: comm, state: st.State}
	}
	return out
}

// selfRSS is this process's resident memory in bytes, 0 when unreadable.
func (t *tracer) selfRSS() uint64 {
	st, err := t.roots.SelfStat()
	if err != nil {
		return 0
	}
	return st.RSSBytes
}

func programs(hooks []trace.Hook) []model.TracerProgram {
	out := make([]model.TracerProgram, len(hooks))
	for i, h := range hooks {
		out[i] = model.TracerProgram{Program: h.Program, Tracepoint: h.Tracepoint, ID: h.ID}
	}
	return out
}

// ProbeTrace tries each step of attaching the programs, detaching each at
// once, and reports what the kernel allows. The error is the kernel's
// refusal (TraceUnavailable), or nil when the failures (if any) are in
// Hooks.
func ProbeTrace() (*model.TraceProbe, error) {
	p, err := trace.Check()
	if p == nil {
		return nil, err
	}
	out := &model.TraceProbe{BTF: p.BTF, Loaded: p.Loaded, AcceptFallback: p.AcceptFallback,
		ListenOverflowReason: p.ListenOverflowReason, Error: p.Error}
	for _, h := range p.Hooks {
		out.Hooks = append(out.Hooks, model.TraceHookProbe{TracerProgram: programs([]trace.Hook{h.Hook})[0], Attached: h.Attached, Error: h.Error})
	}
	return out, err
}
