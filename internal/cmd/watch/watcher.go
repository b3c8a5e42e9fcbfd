package watch

import (
	"errors"
	"fmt"
	"time"

	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/netns"
)

// watcher samples every target namespace.
type watcher struct {
	targets []*target
	all     bool
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
	if nss == nil {
		t, err := newTarget(nil, o.Roots, ports, o.synEvery())
		if err != nil {
			return nil, cmdutil.EnvError(err)
		}
		w.targets = []*target{t}
		return w, nil
	}
	// The one fan-out: a namespace that cannot be opened is a note.
	var firstErr error
	skipped := netns.Each(nss, func(ns netns.Namespace) error {
		t, err := newTarget(&ns, o.Roots, ports, o.synEvery())
		if err == nil {
			w.targets = append(w.targets, t)
		} else if firstErr == nil {
			firstErr = err
		}
		return err
	})
	if !w.all && firstErr != nil {
		return nil, cmdutil.EnvError(firstErr)
	}
	w.notes = append(w.notes, skipped...)
	if len(w.targets) == 0 {
		w.close()
		return nil, cmdutil.EnvError(errors.New("no network namespace could be watched"))
	}
	return w, nil
}

func skipNote(ns *netns.Namespace, err error) string { return netns.SkipNote(*ns, err) }

func (w *watcher) close() {
	for _, t := range w.targets {
		t.close()
	}
}

// sample takes one dump in every namespace; final says a report follows.
func (w *watcher) sample(final bool) error {
	return w.each(func(t *target) error { return t.sample(final) })
}

// report ends the interval in every namespace.
func (w *watcher) report(now time.Time, processes bool) ([]*Report, error) {
	rs := make([]*Report, 0, len(w.targets))
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
// dropped with a note; otherwise the failure ends the watch.
func (w *watcher) each(fn func(*target) error) error {
	kept := w.targets[:0]
	var dropped []*target
	for _, t := range w.targets {
		if err := fn(t); err != nil {
			if !w.all || len(w.targets) == 1 && !vanished(err) {
				return cmdutil.EnvError(fmt.Errorf("watching %s: %w", targetName(t), err))
			}
			w.notes = append(w.notes, skipNote(t.ns, err))
			dropped = append(dropped, t)
			continue
		}
		kept = append(kept, t)
	}
	w.targets = kept
	for _, t := range dropped {
		t.close()
	}
	if len(w.targets) == 0 {
		return cmdutil.EnvError(errors.New("every watched network namespace is gone"))
	}
	return nil
}
