package check

import "github.com/backlogctl/backlogctl/model"

// WindowListeners are the listeners an --observe window saw, as judged, in
// the order first seen (keyed by socket inode: a listener closed and
// re-opened on the same port is a new socket with its own record):
//   - accept_queue, fill and syn_queue are the peaks seen in any sample;
//   - accept_queue_max is the last value seen;
//   - drops is the increase over the window (model.ListenerWindow.DropsIncrease);
//   - a listener missing from the last sample is kept, marked Gone, with what
//     was seen up to its last sample (drops after that are not seen).
func WindowListeners(w *model.Window) []ListenerObservation {
	ws := w.Listeners()
	out := make([]ListenerObservation, 0, len(ws))
	for i := range ws {
		lw := &ws[i]
		o := listenerObservation(w.Last(lw))
		o.AcceptQueue, o.Fill, o.SynQueue = lw.PeakAcceptQueue, lw.PeakFill, lw.PeakSynQueue
		o.AcceptQueueMax = lw.AcceptQueueMax
		o.Drops = nil
		if inc, ok := lw.DropsIncrease(); ok {
			o.Drops = &inc
		}
		o.Appeared = lw.FirstSample > 1
		o.Gone = w.Gone(lw)
		out = append(out, o)
	}
	return out
}
