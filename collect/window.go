package collect

import (
	"context"
	"fmt"
	"time"

	"github.com/backlogctl/backlogctl/model"
)

// TracedWindow shapes a window traced with eBPF: the evidence advise, tune
// and check judge.
type TracedWindow struct {
	// Duration is how long to trace; ctx may end it sooner.
	Duration time.Duration
	// Interval is how often the evidence and the queues are read, to time
	// the high water and see stalls that end before the window does.
	Interval time.Duration
	// Ready, when set, is called once the programs are attached and the
	// baseline taken: what happens from then on is seen.
	Ready func()
}

// traceWindow traces the namespaces nss (nil: here) for w.Duration,
// reading the evidence and a snapshot every w.Interval and folding each
// read into a model.Window per namespace, so that each listener's high
// water has the time of the read that first saw it and its longest stall
// is kept with the owners then. It returns the last read's snapshot, each
// listener carrying its folded evidence. An error for which
// TraceUnavailable holds means nothing was attached.
func traceWindow(ctx context.Context, o Options, nss []model.Namespace, w TracedWindow) (*model.MultiSnapshot, error) {
	if w.Interval <= 0 {
		return nil, fmt.Errorf("trace interval must be positive, got %v", w.Interval)
	}
	tr, err := startTracer(o)
	if err != nil {
		return nil, err
	}
	defer tr.close()
	o.Owners, o.Trace = OwnersOff, TraceOff
	base, err := snapshot(o, nss, nil, nil)
	if err != nil {
		return nil, err
	}
	tr.setBaseline(base)
	if w.Ready != nil {
		w.Ready()
	}
	folds := map[uint64]*model.Window{}
	var last *model.MultiSnapshot
	// A queue held with no accept() seen has no owner named by the
	// programs: its owners are looked up (once, then cached) so that each
	// read gives their state while the stall lasts, which is what the
	// stall records, not their state when the window ends.
	tr.owners = &ownerCache{Roots: o.Roots, MaxAge: ownersMaxAge}
	read := func() error {
		ev, err := tr.src.Snapshot()
		if err != nil {
			return fmt.Errorf("trace: %w", err)
		}
		now, err := snapshot(o, nss, nil, nil)
		if err != nil {
			return err
		}
		tr.attachUnowned(ev, now)
		tr.join(ev, now, *tr.base)
		for _, ns := range now.Namespaces {
			fold := folds[ns.Netns.Inode]
			if fold == nil {
				fold = &model.Window{}
				folds[ns.Netns.Inode] = fold
			}
			fold.AddListeners(ns.Listeners)
		}
		last = now
		return nil
	}
	deadline := time.NewTimer(w.Duration)
	defer deadline.Stop()
	tick := time.NewTicker(w.Interval)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-tick.C:
		case <-deadline.C:
			done = true
		case <-ctx.Done():
			done = true
		}
		if err := read(); err != nil {
			return nil, err
		}
	}
	for _, ns := range last.Namespaces {
		for i := range ns.Listeners {
			l := &ns.Listeners[i]
			if lw, ok := folds[ns.Netns.Inode].Get(l.Inode); ok {
				l.Traced = lw.Traced()
			}
		}
	}
	return last, nil
}

// withEvidence gives snap's listeners (a later snapshot of namespace
// inode, with owners) the window's evidence, by socket cookie; a stall
// whose owners could not be named during it names the snapshot's owners,
// without a state (theirs now is not theirs during the stall).
func withEvidence(snap *model.Snapshot, inode uint64, window *model.MultiSnapshot) {
	evidence := map[uint64]*model.Traced{}
	for _, ns := range window.Namespaces {
		if ns.Netns.Inode != inode {
			continue
		}
		for _, l := range ns.Listeners {
			evidence[l.Cookie] = l.Traced
		}
		snap.UnattributedAcceptErrors = ns.UnattributedAcceptErrors
	}
	for i := range snap.Listeners {
		l := &snap.Listeners[i]
		t := evidence[l.Cookie]
		if t == nil {
			continue
		}
		if t.Stall.Held > 0 && len(t.Stall.Owners) == 0 {
			// Named only: their state now is not their state during the stall.
			for _, p := range l.Processes {
				t.Stall.Owners = append(t.Stall.Owners, model.TracedOwner{PID: p.PID, Comm: p.Comm})
			}
		}
		l.Traced = t
	}
}
