package collect

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/netns"
)

// SampleOptions shape what Samples takes beside Options.
type SampleOptions struct {
	// Interval, when set, takes two samples this far apart.
	Interval time.Duration
	// Trace, when set with Options.Trace, traces a window of this length
	// with eBPF between the two samples (the window is also the interval
	// the counters are judged over).
	Trace time.Duration
	// TraceInterval is how often the traced window reads the evidence.
	TraceInterval time.Duration
	// StateDir is tune's state directory: what backlogctl changed, and when.
	StateDir string
	// Sleep waits between two samples; nil means time.Sleep.
	Sleep func(time.Duration)
	// Ready, when set, is called once the traced window's programs are
	// attached and its baseline taken: what happens from then on is seen.
	Ready func()
}

// TraceUnavailableWarning begins the warning Samples gives where the
// kernel does not allow tracing.
const TraceUnavailableWarning = "eBPF tracing unavailable"

// Samples takes what advise and tune judge in each namespace o names (one
// Samples each; with none named, this one): one snapshot with its owners
// and what the rules need to know of them, or two s.Interval apart, or two
// around a window traced with eBPF. Every namespace shares one interval,
// or one traced window (one set of programs tracing them all at once): the
// first samples are taken in each, then the wait, then the last samples.
// Smaller gaps become each one's warnings; a namespace that cannot be read
// is a note under --all-netns and an error otherwise.
func Samples(o Options, s SampleOptions) ([]*model.Samples, []string, error) {
	nss, notes, err := o.Namespaces.Resolve(o.Roots)
	if err != nil {
		return nil, nil, err
	}
	targets := []*model.Namespace{nil} // here
	if nss != nil {
		targets = targets[:0]
		for i := range nss {
			targets = append(targets, &nss[i])
		}
	}
	outs := make([]*model.Samples, len(targets))
	warnings := make([][]string, len(targets))
	// skip drops a namespace that could not be read: a note under
	// --all-netns, the error otherwise.
	skip := func(i int, err error) error {
		if targets[i] == nil {
			return err
		}
		if !o.Namespaces.All {
			return fmt.Errorf("--netns %s: %w", o.Namespaces.Netns, err)
		}
		notes = append(notes, netns.SkipNote(*targets[i], err))
		outs[i] = nil
		return nil
	}
	for i, ns := range targets {
		outs[i] = &model.Samples{Netns: ns}
	}
	var window *model.MultiSnapshot
	if s.Interval > 0 || s.Trace > 0 {
		// The first samples only need counters and drops: no process scan.
		for i, ns := range targets {
			before, warn, err := sample(oneNamespace(o, OwnersOff), namespaces(ns))
			if err != nil {
				if err := skip(i, err); err != nil {
					return nil, nil, err
				}
				continue
			}
			warnings[i] = append(warnings[i], warn...)
			outs[i].Before, outs[i].Interval = &before, s.Interval
		}
		var warn string
		window, warn, err = wait(o, s, targets, outs)
		if err != nil {
			return nil, nil, err
		}
		for i := range targets {
			if outs[i] != nil && warn != "" {
				warnings[i] = append(warnings[i], warn)
			}
		}
	}
	var out []*model.Samples
	for i, ns := range targets {
		if outs[i] == nil {
			continue
		}
		if err := lastSample(o, s, ns, outs[i], window, warnings[i]); err != nil {
			if err := skip(i, err); err != nil {
				return nil, nil, err
			}
			continue
		}
		out = append(out, outs[i])
	}
	if nss != nil && len(out) == 0 && o.Namespaces.All {
		return nil, notes, nil
	}
	return out, notes, nil
}

// oneNamespace is o for reading one namespace, with owners as asked: an
// error, not a note, if it cannot be read.
func oneNamespace(o Options, owners Owners) Options {
	o.Namespaces, o.Owners = Namespaces{}, owners
	return o
}

// namespaces is ns as a list for snapshot (nil: here).
func namespaces(ns *model.Namespace) []model.Namespace {
	if ns == nil {
		return nil
	}
	return []model.Namespace{*ns}
}

// wait waits out the interval between the first and the last samples:
// one window traced with eBPF over every namespace still read (the
// programs attached once, for them all), or a sleep. A window the kernel
// refuses to trace is a sleep and a warning.
func wait(o Options, s SampleOptions, targets []*model.Namespace, outs []*model.Samples) (*model.MultiSnapshot, string, error) {
	sleep := s.Sleep
	if sleep == nil {
		sleep = time.Sleep
	}
	if s.Trace <= 0 || o.Trace == TraceOff {
		sleep(s.Interval)
		return nil, "", nil
	}
	var nss []model.Namespace
	for i, ns := range targets {
		if outs[i] != nil && ns != nil {
			nss = append(nss, *ns)
		}
		if outs[i] != nil {
			// The traced window is also the interval counters are judged over.
			outs[i].Interval = s.Trace
		}
	}
	if len(nss) == 0 && targets[0] != nil {
		return nil, "", nil // every namespace was skipped
	}
	w, err := traceWindow(context.Background(), o, nss, TracedWindow{Duration: s.Trace, Interval: s.TraceInterval, Ready: s.Ready})
	switch {
	case TraceUnavailable(err):
		sleep(s.Trace)
		return nil, fmt.Sprintf("%s (%v): judging two samples %s apart instead", TraceUnavailableWarning, err, s.Trace), nil
	case err != nil:
		return nil, "", err
	}
	for i := range outs {
		if outs[i] != nil {
			outs[i].TraceSeconds, outs[i].TraceStall = w.Trace.Seconds(), o.stall()
			outs[i].TraceSince = w.Trace.Since
		}
	}
	return w, "", nil
}

// lastSample takes the last (or only) sample of namespace ns (nil: here)
// into out, with its owners and what the rules need to know of them, and
// the traced window's evidence for its listeners.
func lastSample(o Options, s SampleOptions, ns *model.Namespace, out *model.Samples, window *model.MultiSnapshot, warnings []string) error {
	roots := o.Roots.WithDefaults()
	now, warn, err := sample(oneNamespace(o, OwnersOn), namespaces(ns))
	if err != nil {
		return err
	}
	out.Now = now
	snap := now.Snapshot
	warnings = append(append(warnings, snap.Warnings...), warn...)
	out.Units = units(roots, snap)
	ownerFacts(roots, snap)
	if err := countConnections(snap, ns); err != nil {
		warnings = append(warnings, fmt.Sprintf("could not count the connections of the listeners whose owners cap them: %v", err))
	}
	var inode uint64
	if ns != nil {
		inode = ns.Inode
	}
	if window != nil {
		if ns == nil {
			inode = window.Namespaces[0].Netns.Inode
		}
		withEvidence(snap, inode, window)
	}
	var known bool
	out.ChildNetns, known = childNetns(roots, snap.Sysctls)
	out.NetnsUnknown = !known
	if s.StateDir != "" {
		if ns == nil {
			inode = 0
		}
		recorded, err := recordedChanges(s.StateDir, roots, inode)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("could not read what backlogctl changed: %v", err))
		}
		out.Changes = recorded
	}
	if mem, err := roots.MemTotal(); err == nil {
		out.MemTotal = mem
	}
	out.Warnings = warnings
	return nil
}

// countConnections counts, inside namespace ns (nil: here), the
// connections held by the owners of snap's listeners whose owners cap them
// (inspect.CountConnections).
func countConnections(snap *model.Snapshot, ns *model.Namespace) error {
	if ns == nil {
		return inspect.CountConnections(nil, snap.Listeners)
	}
	return each([]model.Namespace{*ns}, 1, func(int, model.Namespace) error {
		return inspect.CountConnections(nil, snap.Listeners)
	})[0]
}

// sample takes one snapshot of nss (nil: here) and the softnet drop total.
func sample(o Options, nss []model.Namespace) (model.Sample, []string, error) {
	m, err := snapshot(o, nss, nil, nil)
	if err != nil {
		return model.Sample{}, nil, err
	}
	s := model.Sample{Snapshot: m.Namespaces[0].Snapshot}
	var warnings []string
	dropped, err := o.Roots.WithDefaults().SoftnetDropped()
	switch {
	case err == nil:
		s.SoftnetDropped = &dropped
	case !errors.Is(err, fs.ErrNotExist):
		warnings = append(warnings, fmt.Sprintf("could not read net/softnet_stat: %v", err))
	}
	return s, warnings, nil
}
