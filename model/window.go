package model

import (
	"slices"
	"strings"
	"time"
)

// QueueSample is one listener's queues in one sample: what a fold over time
// needs, without the rest of a Listener.
type QueueSample struct {
	Inode          uint32
	AcceptQueue    uint32
	AcceptQueueMax uint32
	// SynQueue is the listener's SYN-queue count; as in Listener, a member of
	// an SO_REUSEPORT group has the group's count.
	SynQueue uint32
	// Drops is the listener's own drop counter, when HasDrops.
	Drops    uint32
	HasDrops bool
	// QueueHead marks the oldest connection in a Unix listener's queue
	// (Listener.QueueHead), 0 when unknown.
	QueueHead uint32
}

// Fill is Listener.Fill for this sample.
func (q QueueSample) Fill() float64 { return Fill(q.AcceptQueue, q.AcceptQueueMax) }

// QueueSampleOf is the queues of l.
func QueueSampleOf(l *Listener) QueueSample {
	return QueueSample{Inode: l.Inode, AcceptQueue: l.AcceptQueue, AcceptQueueMax: l.AcceptQueueMax,
		SynQueue: l.SynQueue, Drops: l.DropCount(), HasDrops: l.Drops != nil, QueueHead: l.QueueHead}
}

// ListenerWindow is what the samples of a window saw of one listener (one
// socket: a listener closed and re-opened on the same port is another).
type ListenerWindow struct {
	Inode uint32
	// PeakAcceptQueue, PeakFill and PeakSynQueue are the highest values any
	// sample saw, so a burst that drained between samples still shows.
	PeakAcceptQueue uint32
	PeakFill        float64
	PeakSynQueue    uint32
	// AcceptQueueMax is the last value seen.
	AcceptQueueMax uint32
	// FirstAcceptQueue and FirstAcceptQueueMax are what the first sample
	// that saw the listener held (set by Add, not AddPeaks).
	FirstAcceptQueue, FirstAcceptQueueMax uint32
	// FirstQueueHead is the first sample's QueueHead: if a later sample
	// still has that connection waiting, nothing was accepted in between.
	FirstQueueHead uint32
	// FirstSample and LastSample number the samples (from 1) the listener
	// was first and last seen in.
	FirstSample, LastSample int

	baseDrops, lastDrops uint32
	hasDrops             bool

	// traced and prevTraced are the last two reads of the listener's eBPF
	// evidence folded in (AddListeners of listeners that carry it);
	// highWaterAt and stall are the window's marks over every read.
	traced, prevTraced *Traced
	highWaterAt        time.Time
	stall, current     Stall
	oldestQueued       time.Duration
	oldestExact        bool
}

// Traced is the listener's last eBPF evidence in the window, with the
// window's marks: HighWaterAt, the first read that saw its high water, and
// Stall, the longest the queue was held with no accept() at any read (with
// the queue and the owners then). nil when no read carried evidence.
func (l *ListenerWindow) Traced() *Traced {
	if l.traced == nil {
		return nil
	}
	t := *l.traced
	t.HighWaterAt, t.Stall = l.highWaterAt, l.stall
	if l.oldestQueued > t.OldestQueued {
		t.OldestQueuedMax, t.OldestQueuedMaxExact = l.oldestQueued, l.oldestExact
	} else {
		t.OldestQueuedMax, t.OldestQueuedMaxExact = t.OldestQueued, t.OldestQueuedExact
	}
	return &t
}

// TracedInterval is what the evidence says happened between the window's
// last two reads of it (Traced.Since): the whole of the last read when it
// is the first, or when the programs' slot for the listener was reset in
// between. nil when no read carried evidence.
func (l *ListenerWindow) TracedInterval() *Traced {
	if l.traced == nil {
		return nil
	}
	t := l.traced.Since(l.prevTraced)
	return &t
}

// HighWaterRose reports whether the last read's high water is above the
// one before it (or, at the first read, above zero).
func (l *ListenerWindow) HighWaterRose() bool {
	if l.traced == nil {
		return false
	}
	if l.prevTraced == nil {
		return l.traced.HighWater > 0
	}
	return l.traced.HighWater > l.prevTraced.HighWater
}

// foldTraced folds one read of l's evidence, taken when the sampled queue
// held queue connections.
func (lw *ListenerWindow) foldTraced(t *Traced, queue uint32) {
	lw.prevTraced, lw.traced = lw.traced, t
	if lw.HighWaterRose() {
		lw.highWaterAt = t.At
	}
	switch {
	case queue == 0 || t.Held == 0:
		lw.current = Stall{}
	case lw.current.Held > 0 && t.Held >= lw.current.Held:
		// The same hold, longer: the owners' states seen at each read.
		lw.current.Held, lw.current.Queue = t.Held, queue
		lw.current.Owners = mergeStates(lw.current.Owners, t.Owners)
	default:
		lw.current = Stall{Held: t.Held, Queue: queue, Owners: append([]TracedOwner(nil), t.Owners...)}
	}
	if lw.current.Held > lw.stall.Held {
		lw.stall = lw.current
		lw.stall.Owners = append([]TracedOwner(nil), lw.current.Owners...)
	}
	if t.OldestQueuedMax > lw.oldestQueued {
		lw.oldestQueued, lw.oldestExact = t.OldestQueuedMax, t.OldestQueuedMaxExact
	}
	if t.OldestQueued > lw.oldestQueued {
		lw.oldestQueued, lw.oldestExact = t.OldestQueued, t.OldestQueuedExact
	}
}

// mergeStates adds the states of the owners read now to those seen earlier
// in a stall: an owner seen stopped, then (resumed) in disk sleep has State
// "T (stopped), then D (disk sleep)". Owners seen for the first time join.
func mergeStates(seen, now []TracedOwner) []TracedOwner {
	for _, o := range now {
		i := slices.IndexFunc(seen, func(s TracedOwner) bool { return s.PID == o.PID })
		switch {
		case i < 0:
			seen = append(seen, o)
		case o.State != "" && !strings.HasSuffix(seen[i].State, o.State):
			if seen[i].State == "" {
				seen[i].State = o.State
			} else {
				seen[i].State += ", then " + o.State
			}
		}
	}
	return seen
}

// DropsIncrease is the listener's drop counter's increase over the window:
// last seen minus the value in the first sample, in uint32 arithmetic (right
// across a wrap of the kernel's sk_drops). A listener that appeared after the
// first sample was created during the window, so all its drops (counted from
// the socket's creation) happened in it. ok is false when the last sample
// that saw the listener had no drop counter (before Linux 4.7, or not fetched).
func (l *ListenerWindow) DropsIncrease() (inc uint32, ok bool) {
	return l.lastDrops - l.baseDrops, l.hasDrops
}

// Window folds samples of listeners taken over time into each listener's
// peaks and drop increase, and the eBPF evidence they carry (Traced) into
// its marks and intervals; check --observe, advise --interval and --trace,
// and watch all use it. While the listening sockets do not change, each sample's i-th
// listener is the same socket as the last sample's, so Add is a loop over two
// slices with no map access or allocation: watch samples at 100 Hz.
type Window struct {
	// Samples is how many samples were added.
	Samples   int
	listeners []ListenerWindow // in the order first seen
	index     map[uint32]int   // inode -> position in listeners
	// full holds, beside listeners, the last full Listener seen of each
	// (AddListeners); apart, so that Add runs over small values only.
	full []Listener
	// lastInodes and lastPos are the last sample's listeners and their
	// positions in listeners, for the aligned fast path.
	lastInodes []uint32
	lastPos    []int32
	inOrder    bool // lastPos[i] == i for every i
	scratch    []QueueSample
}

// Add folds in one sample.
func (w *Window) Add(qs []QueueSample) {
	w.Samples++
	if !w.aligned(qs) {
		w.realign(qs)
	}
	n := w.Samples
	if w.inOrder {
		// The common case: the listeners were first seen in this order.
		ls := w.listeners[:len(qs)]
		for i := range qs {
			raise(&ls[i], &qs[i], n)
		}
		return
	}
	for i := range qs {
		raise(&w.listeners[w.lastPos[i]], &qs[i], n)
	}
}

// AddPeaks folds in one sample's queue peaks only, leaving each listener's
// last values (AcceptQueueMax, LastSample, drops) as they were: for a caller
// that samples at a high rate and takes those from its last full Listener
// (watch, at 100 Hz), the fold is then three maxima per listener.
func (w *Window) AddPeaks(qs []QueueSample) {
	w.Samples++
	if !w.aligned(qs) {
		w.realign(qs)
	}
	if w.inOrder {
		ls := w.listeners[:len(qs)]
		for i := range qs {
			raisePeaks(&ls[i], &qs[i])
		}
		return
	}
	for i := range qs {
		raisePeaks(&w.listeners[w.lastPos[i]], &qs[i])
	}
}

func raisePeaks(l *ListenerWindow, q *QueueSample) {
	l.PeakAcceptQueue = max(l.PeakAcceptQueue, q.AcceptQueue)
	l.PeakSynQueue = max(l.PeakSynQueue, q.SynQueue)
	l.PeakFill = max(l.PeakFill, q.Fill())
}

// raise folds sample number n's q into l.
func raise(l *ListenerWindow, q *QueueSample, n int) {
	raisePeaks(l, q)
	l.AcceptQueueMax = q.AcceptQueueMax
	l.LastSample = n
	l.lastDrops, l.hasDrops = q.Drops, q.HasDrops
	if n == l.FirstSample {
		l.FirstAcceptQueue, l.FirstAcceptQueueMax = q.AcceptQueue, q.AcceptQueueMax
		l.FirstQueueHead = q.QueueHead
		if n == 1 {
			l.baseDrops = q.Drops
		}
	}
}

// AddListeners folds in a sample of full listeners, keeping the last one
// seen of each (and its last non-empty Processes) for Last.
func (w *Window) AddListeners(ls []Listener) {
	w.scratch = w.scratch[:0]
	for i := range ls {
		w.scratch = append(w.scratch, QueueSampleOf(&ls[i]))
	}
	w.Add(w.scratch)
	if len(w.full) < len(w.listeners) {
		w.full = append(w.full, make([]Listener, len(w.listeners)-len(w.full))...)
	}
	for i := range ls {
		f := &w.full[w.lastPos[i]]
		procs := f.Processes
		*f = ls[i]
		if len(ls[i].Processes) == 0 && len(procs) > 0 {
			f.Processes = procs
		}
		if t := ls[i].Traced; t != nil {
			w.listeners[w.lastPos[i]].foldTraced(t, ls[i].AcceptQueue)
		}
	}
}

// Last is the last full Listener AddListeners saw of l (a Listeners
// element), with the last non-empty Processes; zero when only queues were
// sampled.
func (w *Window) Last(l *ListenerWindow) Listener {
	if pos, ok := w.index[l.Inode]; ok && pos < len(w.full) {
		return w.full[pos]
	}
	return Listener{}
}

func (w *Window) aligned(qs []QueueSample) bool {
	if len(qs) != len(w.lastInodes) {
		return false
	}
	for i := range qs {
		if qs[i].Inode != w.lastInodes[i] {
			return false
		}
	}
	return true
}

// realign finds (or starts) each of qs's listeners.
func (w *Window) realign(qs []QueueSample) {
	if w.index == nil {
		w.index = make(map[uint32]int, len(qs))
	}
	w.lastInodes, w.lastPos = w.lastInodes[:0], w.lastPos[:0]
	w.inOrder = true
	for i, q := range qs {
		pos, ok := w.index[q.Inode]
		if !ok {
			pos = len(w.listeners)
			w.listeners = append(w.listeners, ListenerWindow{Inode: q.Inode, FirstSample: w.Samples})
			w.index[q.Inode] = pos
		}
		w.lastInodes = append(w.lastInodes, q.Inode)
		w.lastPos = append(w.lastPos, int32(pos))
		w.inOrder = w.inOrder && pos == i
	}
}

// Get is what the window saw of the listener with this inode.
func (w *Window) Get(inode uint32) (*ListenerWindow, bool) {
	pos, ok := w.index[inode]
	if !ok {
		return nil, false
	}
	return &w.listeners[pos], true
}

// Listeners are every listener the window saw, in the order first seen.
func (w *Window) Listeners() []ListenerWindow { return w.listeners }

// Gone reports whether l was missing from the window's last sample.
func (w *Window) Gone(l *ListenerWindow) bool { return l.LastSample < w.Samples }

// Reset starts a new window, keeping the memory of this one.
func (w *Window) Reset() {
	w.Samples = 0
	w.listeners = w.listeners[:0]
	clear(w.full)
	w.full = w.full[:0]
	clear(w.index)
	w.lastInodes, w.lastPos = w.lastInodes[:0], w.lastPos[:0]
	w.inOrder = false
}

// Delta is now - before for a counter that only rises; one that went
// backwards was reset (or wrapped, for a 32-bit one), so all of now
// happened since.
func Delta(before, now uint64) uint64 {
	if now < before {
		return now
	}
	return now - before
}

// CounterDeltas is Delta per counter of end; a counter absent at the start
// counts from 0.
func CounterDeltas(start, end map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(end))
	for name, v := range end {
		out[name] = Delta(start[name], v)
	}
	return out
}
