package watch

import (
	"errors"
	"fmt"
	"time"

	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/netns"
)

// watcher samples every target namespace through netns.Kept, the fan-out
// over namespaces opened once: each target's sock_diag socket is made
// inside its namespace when the watch starts, and every sample visits the
// targets without entering a namespace again.
type watcher struct {
	kept *netns.Kept[*target]
	all  bool
	// notes say which namespaces were dropped since the last print.
	notes []string
}

func newWatcher(o *Options) (*watcher, error) {
	ports, _ := cmdutil.Ports(o.Ports)
	nss, notes, err := o.Namespaces.Namespaces(o.Roots)
	if err != nil {
		return nil, err
	}
	w := &watcher{all: o.Namespaces.All, notes: notes}
	// A namespace that cannot be opened is a note under --all-netns.
	kept, skipped, firstErr := netns.Keep(nss, func(ns *netns.Namespace) (*target, error) {
		return newTarget(ns, o.Roots, ports, o.synEvery())
	})
	w.kept = kept
	if firstErr != nil && (nss == nil || !w.all) {
		w.close()
		return nil, cmdutil.EnvError(firstErr)
	}
	w.notes = append(w.notes, skipped...)
	if len(w.targets()) == 0 {
		return nil, cmdutil.EnvError(errors.New("no network namespace could be watched"))
	}
	return w, nil
}

// targets are the namespaces still watched.
func (w *watcher) targets() []*target { return w.kept.Values() }

func (w *watcher) close() {
	for _, t := range w.targets() {
		t.close()
	}
}

// sample takes one dump in every namespace; final says a report follows.
func (w *watcher) sample(final bool) error {
	return w.each(func(t *target) error { return t.sample(final) })
}

// report ends the interval in every namespace.
func (w *watcher) report(now time.Time, processes bool) ([]*Report, error) {
	rs := make([]*Report, 0, len(w.targets()))
	err := w.each(func(t *target) error {
		r, err := t.report(now, processes)
		if err == nil {
			rs = append(rs, r)
		}
		return err
	})
	return rs, err
}

// each runs fn on every target. Under --all-netns a namespace that fails is
// dropped with a note (unless it is the last one and has not vanished);
// otherwise the failure ends the watch.
func (w *watcher) each(fn func(*target) error) error {
	last := len(w.targets()) == 1
	dropped, notes, err := w.kept.Round(fn, func(t *target, err error) error {
		if !w.all || last && !vanished(err) {
			return cmdutil.EnvError(fmt.Errorf("watching %s: %w", targetName(t), err))
		}
		return nil
	})
	w.notes = append(w.notes, notes...)
	for _, t := range dropped {
		t.close()
	}
	if err != nil {
		return err
	}
	if len(w.targets()) == 0 {
		return cmdutil.EnvError(errors.New("every watched network namespace is gone"))
	}
	return nil
}
