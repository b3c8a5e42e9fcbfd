package collect

import (
	"maps"
	"math"
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
	mode  trace.Mode

	mu   sync.Mutex
	base *baseline
	// files are the socket files the paths refused connects asked for
	// lead to, resolved once each (unixtrace.go).
	files refusalFiles

	// owners, when set, names the owners of a queue that holds
	// connections while no accept() from it was seen (nothing else names
	// them), so that each read gives their state while it lasts.
	owners *ownerCache
}

// startTracer attaches the programs, their listener table sized from the
// listeners there are now (traceOptions). A refusal (trace.Unavailable)
// means nothing was attached.
func startTracer(o Options) (*tracer, error) {
	to, err := traceOptions(o)
	if err != nil {
		return nil, err
	}
	src, err := o.openTrace(to)
	if err != nil {
		return nil, err
	}
	return &tracer{src: src, roots: o.Roots.WithDefaults(), mode: to.Mode}, nil
}

// traceOptions are the programs' options for o: its mode, a listener table
// with room for the listeners of o's namespaces now and a quarter more
// (trace.ListenerHeadroom; o.TraceListeners if more), and, unless every
// namespace is read (now and later), those namespaces only, so that
// listeners elsewhere take no slot.
func traceOptions(o Options) (trace.Options, error) {
	to := trace.Options{Mode: trace.Mode(o.Trace)}
	if o.Trace == TraceOn || o.Trace == "on" {
		to.Mode = trace.ModeFull
	}
	nss, notes, err := o.Namespaces.Resolve(o.Roots)
	if err != nil {
		return to, err
	}
	count := o
	count.Trace, count.Owners, count.Ports = TraceOff, OwnersOff, nil
	m, err := snapshot(count, nss, notes, nil)
	if err != nil {
		return to, err
	}
	n := 0
	for _, ns := range m.Namespaces {
		n += len(ns.Listeners)
		if !o.Namespaces.All {
			to.Netns = append(to.Netns, ns.Netns.Inode)
		}
	}
	to.Listeners = max(int(math.Ceil(float64(n)*trace.ListenerHeadroom)), o.TraceListeners)
	return to, nil
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
	// drops is each listener's own drop count (sk_drops), queue its accept
	// queue's length.
	drops map[trace.Key]uint32
	queue map[trace.Key]uint32
}

// setBaseline records m's counters and listener drop counts, once: the
// first snapshot after the programs were attached.
func (t *tracer) setBaseline(m *model.MultiSnapshot) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.base != nil {
		return
	}
	b := &baseline{overflows: map[uint64]uint64{}, drops: map[trace.Key]uint32{}, queue: map[trace.Key]uint32{}}
	for _, ns := range m.Namespaces {
		b.overflows[ns.Netns.Inode] = ns.Counters["TcpExtListenOverflows"]
		for _, l := range ns.Listeners {
			k := trace.Key{Netns: ns.Netns.Inode, Cookie: l.Cookie}
			b.drops[k] = l.DropCount()
			b.queue[k] = l.AcceptQueue
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
	t.attachUnowned(ev, m)
	t.join(ev, m, base)
	return nil
}

// attachUnowned gives the listeners of m their owners, from t.owners, when
// one holds connections that no accept() seen names an owner of.
func (t *tracer) attachUnowned(ev *trace.Evidence, m *model.MultiSnapshot) {
	if t.owners == nil || !unownedQueue(ev, m) {
		return
	}
	snaps := make([]*model.Snapshot, len(m.Namespaces))
	for i := range m.Namespaces {
		snaps[i] = m.Namespaces[i].Snapshot
	}
	t.owners.Attach(snaps...)
}

// join gives m's listeners ev's evidence, by socket cookie within each
// namespace.
func (t *tracer) join(ev *trace.Evidence, m *model.MultiSnapshot, base baseline) {
	states := t.states(tracedPIDs(ev, m))
	enq, _ := t.src.(trace.EnqueueTimes)
	for _, ns := range m.Namespaces {
		inode := ns.Netns.Inode
		for i := range ns.Listeners {
			l := &ns.Listeners[i]
			k := trace.Key{Netns: inode, Cookie: l.Cookie}
			l.Traced = traced(l, k, ev.Listeners[k], ev, states)
			if ev.Mode == trace.ModeQueue {
				queueAccepts(l, k, ev.Listeners[k], base)
			}
			l.Traced.OldestQueued, l.Traced.OldestQueuedExact = oldestQueued(l, ev.Listeners[k], ev, enq)
			l.Traced.OldestQueuedMax, l.Traced.OldestQueuedMaxExact = l.Traced.OldestQueued, l.Traced.OldestQueuedExact
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
	if ev.Mode != trace.ModeQueue {
		t.joinUnix(ev, m, states)
	}
	mode := ev.Mode
	if mode == "" {
		mode = trace.ModeFull
	}
	m.Trace = &model.TraceInfo{Since: ev.Since, Time: ev.Time, Mode: string(mode), ConnectBlockedSince: ev.ConnectBlockedSince,
		Tracer: model.Tracer{Programs: programs(t.src.Hooks()), MapMemoryBytes: t.src.Memory(), RSSBytes: t.selfRSS(),
			ListenerSlots: ev.ListenerSlots, ListenersTraced: ev.ListenersTraced, UntracedEvents: ev.UntracedEvents}}
	if note := untracedNote(ev); note != "" {
		m.Notes = append(m.Notes, note)
	}
}

// traced is l's evidence, le (nil: none was counted), joined to the
// sampled listener: a queue the programs saw no event of held sock_diag's
// length throughout.
func traced(l *model.Listener, k trace.Key, le *trace.ListenerEvidence, ev *trace.Evidence, states map[int]procState) *model.Traced {
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
	// A listener that found the programs' table full misses events; when
	// more did than could be named, any listener without figures may be one.
	t.UntracedEvents = ev.Untraced[k]
	t.Untraced = t.UntracedEvents > 0 || le == nil && ev.UntracedUnnamed() > 0
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
		t.Overflows.AckTime, t.Overflows.CookieAckTime = le.AckOverflows, le.CookieAckOverflows
		w := le.AcceptWait
		t.AcceptWait = model.WaitHistogram{Buckets: w.Buckets, Count: w.Count, SumNs: w.SumNs, MaxNs: w.MaxNs, Unmatched: w.Unmatched,
			BoundNs: uint64(le.WaitBound), Unbounded: le.WaitUnbounded}
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

// deriveSynTime fills Overflows.SynTime for one namespace's listeners
// (splitSynTime): its ListenOverflows rise less the ACK-time overflows
// counted, given to the listeners whose queue filled. The programs see
// every namespace traced, so its traced listeners not in the snapshot
// (another port) take their part too.
func deriveSynTime(ns model.NamespaceSnapshot, ev *trace.Evidence, base baseline) {
	inode := ns.Netns.Inode
	before, ok := base.overflows[inode]
	now := ns.Counters["TcpExtListenOverflows"]
	if !ok || now < before {
		return
	}
	in := make([]synTimeListener, 0, len(ns.Listeners))
	index := map[trace.Key]int{}
	for _, l := range ns.Listeners {
		if l.IsUnix() {
			continue // TCP's counter: a Unix listener's full queue overflows nothing
		}
		k := trace.Key{Netns: inode, Cookie: l.Cookie}
		dropsBefore, sampled := base.drops[k]
		s := synTimeListener{key: k, filled: base.queue[k] > l.AcceptQueueMax || l.AcceptQueue > l.AcceptQueueMax,
			dropsKnown: sampled && l.Drops != nil, dropsRise: uint64(l.DropCount() - dropsBefore)} // sk_drops wraps as a u32
		if le := ev.Listeners[k]; le != nil {
			s.filled = s.filled || le.Filled()
			s.ackOverflows, s.cookieAckOverflows, s.deferAcceptDrops = le.AckOverflows, le.CookieAckOverflows, le.Drops[trace.DeferAcceptReason]
		}
		index[k] = len(in)
		in = append(in, s)
	}
	for k, le := range ev.Listeners {
		if _, seen := index[k]; k.Netns == inode && !seen && !le.Unix {
			in = append(in, synTimeListener{key: k, filled: le.Filled() || base.queue[k] > le.MaxBacklog && le.MaxBacklog > 0,
				ackOverflows: le.AckOverflows, cookieAckOverflows: le.CookieAckOverflows})
		}
	}
	shares := splitSynTime(now-before, in)
	for i := range ns.Listeners {
		l := &ns.Listeners[i]
		if j, ok := index[trace.Key{Netns: inode, Cookie: l.Cookie}]; ok && l.Traced != nil {
			l.Traced.Overflows.SynTime = shares[j]
		}
	}
}

// queueAccepts fills, in queue mode (no accept hook), what is inferred from
// the queue: accepted, the connections enqueued less those still queued now
// (sock_diag), not fewer than the programs inferred at the last enqueue; an
// interval with no enqueue has the queue's length now as its high water
// (it can only have shrunk, and its length at the interval's start was
// counted in the interval before: every peak is just after an enqueue);
// and an accept after the last enqueue, if the queue is shorter now, ends
// any stall now (the latest it can have been: a stall is never longer than
// it was).
func queueAccepts(l *model.Listener, k trace.Key, le *trace.ListenerEvidence, base baseline) {
	t := l.Traced
	t.AcceptWait.Unmatched = 0
	if le == nil || !le.Tracked {
		// No enqueue since tracing began: what left the queue was accepted.
		if before, ok := base.queue[k]; ok && before > l.AcceptQueue {
			t.Accepted = uint64(before - l.AcceptQueue)
			t.Held = 0
		}
		return
	}
	if !le.IntervalEvents {
		t.IntervalHighWater = l.AcceptQueue
	}
	total := le.Enqueued + uint64(le.BaseLen)
	if now := total - min(uint64(l.AcceptQueue), total); now > t.Accepted {
		t.Accepted = now
	}
	if l.AcceptQueue < le.LastLen {
		t.Held = 0
	}
}

// oldestQueued is how long the oldest connection in l's accept queue (as
// sampled) had waited at the read, and whether exactly: the queue is first
// in, first out, so the oldest is at the place accept() takes next, whose
// enqueue time the programs' ring holds (enq). In full mode that place is
// the programs' own, as of the read; in queue mode (no accept hook) it is
// the connections enqueued less those sampled in the queue, to within the
// connections that arrived between the read and the sample. Otherwise a
// lower bound: queued before tracing began, it waited at least since then;
// with its time no longer held, at least as long as the queue has been
// held with no accept (Held).
func oldestQueued(l *model.Listener, le *trace.ListenerEvidence, ev *trace.Evidence, enq trace.EnqueueTimes) (time.Duration, bool) {
	switch {
	case l.AcceptQueue == 0:
		return 0, true
	case le == nil || !le.Tracked:
		// No enqueue or accept since tracing began: queued before it.
		return ev.Time.Sub(ev.Since), false
	}
	place := le.Dequeued
	if ev.Mode == trace.ModeQueue {
		if p := le.Enqueued - uint64(l.AcceptQueue); int64(p-place) > 0 {
			place = p // taken since the last enqueue inferred them
		}
	}
	switch {
	case int64(le.Enqueued-place) <= 0:
		return 0, true // every one the read saw was taken: these came after it
	case int64(place) < 0:
		return ev.Time.Sub(ev.Since), false
	}
	if enq != nil {
		if at, ok := enq.EnqueuedAt(le.Key, place); ok {
			return max(0, ev.Time.Sub(at)), true
		}
	}
	return l.Traced.Held, false
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
	for _, r := range ev.ConnectRefusals {
		add(r.PID)
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
