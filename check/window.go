package check

// windowTracker folds listener samples taken during an --observe window into
// one observation per listener, keyed by socket inode (a listener closed and
// re-opened on the same port is a new socket with its own record):
//   - accept_queue, fill and syn_queue keep the peak seen in any sample;
//   - accept_queue_max keeps the last value seen;
//   - drops becomes the increase over the window: last seen minus the value
//     in the first sample. A listener that appeared after the first sample
//     was created during the window, so all its drops (the kernel counts
//     them from the socket's creation) happened in it: its baseline is 0.
//   - a listener missing from the last sample is kept, marked Gone, with what
//     was seen up to its last sample (drops after that are not seen).
type windowTracker struct {
	samples   int
	order     []uint32
	listeners map[uint32]*trackedListener
}

type trackedListener struct {
	obs       ListenerObservation
	baseDrops uint32
	lastDrops *uint32
	lastSeen  int
}

func newWindowTracker() *windowTracker {
	return &windowTracker{listeners: map[uint32]*trackedListener{}}
}

// add folds in one sample.
func (w *windowTracker) add(ls []ListenerObservation) {
	w.samples++
	for _, l := range ls {
		t, ok := w.listeners[l.Inode]
		if !ok {
			t = &trackedListener{obs: l}
			if w.samples == 1 && l.Drops != nil {
				t.baseDrops = *l.Drops
			}
			t.obs.Appeared = w.samples > 1
			w.listeners[l.Inode] = t
			w.order = append(w.order, l.Inode)
		}
		o := &t.obs
		o.Endpoint = l.Endpoint
		o.AcceptQueue = max(o.AcceptQueue, l.AcceptQueue)
		o.Fill = max(o.Fill, l.Fill)
		o.SynQueue = max(o.SynQueue, l.SynQueue)
		o.AcceptQueueMax = l.AcceptQueueMax
		if len(l.Processes) > 0 {
			o.Processes = l.Processes
		}
		t.lastDrops = l.Drops
		t.lastSeen = w.samples
	}
}

// result returns the window's listeners in the order first seen.
func (w *windowTracker) result() []ListenerObservation {
	out := make([]ListenerObservation, 0, len(w.order))
	for _, inode := range w.order {
		t := w.listeners[inode]
		o := t.obs
		o.Drops = nil
		if t.lastDrops != nil {
			// uint32 arithmetic: right across a wrap of the kernel's counter.
			inc := *t.lastDrops - t.baseDrops
			o.Drops = &inc
		}
		o.Gone = t.lastSeen < w.samples
		out = append(out, o)
	}
	return out
}

// counterIncrease is end - start per counter. A counter absent at the start
// counts from 0; one that went backwards (never, for the kernel's monotonic
// counters, short of a wrap) is reported as its end value.
func counterIncrease(start, end map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(end))
	for name, v := range end {
		s := start[name]
		if v >= s {
			out[name] = v - s
		} else {
			out[name] = v
		}
	}
	return out
}
