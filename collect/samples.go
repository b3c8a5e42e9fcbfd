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
// Samples each, in turn; with none named, this one): one snapshot with its
// owners and what the rules need to know of them, or two s.Interval apart,
// or two around a window traced with eBPF. Smaller gaps become each one's
// warnings; a namespace that cannot be read is a note under --all-netns and
// an error otherwise.
func Samples(o Options, s SampleOptions) ([]*model.Samples, []string, error) {
	nss, notes, err := o.Namespaces.Resolve(o.Roots)
	if err != nil {
		return nil, nil, err
	}
	if nss == nil {
		got, err := samples(o, s, nil)
		if err != nil {
			return nil, nil, err
		}
		return []*model.Samples{got}, nil, nil
	}
	var out []*model.Samples
	for i := range nss {
		got, err := samples(o, s, &nss[i])
		if err != nil {
			if !o.Namespaces.All {
				return nil, nil, fmt.Errorf("--netns %s: %w", o.Namespaces.Netns, err)
			}
			notes = append(notes, netns.SkipNote(nss[i], err))
			continue
		}
		out = append(out, got)
	}
	return out, notes, nil
}

// samples takes the samples of one namespace (nil: here).
func samples(o Options, s SampleOptions, ns *model.Namespace) (*model.Samples, error) {
	sleep := s.Sleep
	if sleep == nil {
		sleep = time.Sleep
	}
	var nss []model.Namespace
	if ns != nil {
		nss = []model.Namespace{*ns}
	}
	one := o
	one.Namespaces = Namespaces{} // nss is one namespace: an error, not a note, if it cannot be read
	roots := o.Roots.WithDefaults()
	out := &model.Samples{Netns: ns}
	var warnings []string
	var window *model.MultiSnapshot
	if s.Interval > 0 || s.Trace > 0 {
		// The first sample only needs counters and drops: no process scan.
		one.Owners = OwnersOff
		before, warn, err := sample(one, nss)
		if err != nil {
			return nil, err
		}
		warnings = append(warnings, warn...)
		out.Before, out.Interval = &before, s.Interval
		if s.Trace > 0 && o.Trace != TraceOff {
			// The traced window is also the interval counters are judged over.
			out.Interval = s.Trace
			w, err := traceWindow(context.Background(), one, nss, TracedWindow{Duration: s.Trace, Interval: s.TraceInterval, Ready: s.Ready})
			switch {
			case TraceUnavailable(err):
				sleep(s.Trace)
				warnings = append(warnings, fmt.Sprintf("%s (%v): judging two samples %s apart instead", TraceUnavailableWarning, err, s.Trace))
			case err != nil:
				return nil, err
			default:
				window = w
				out.TraceSeconds, out.TraceStall = w.Trace.Seconds(), o.stall()
			}
		} else {
			sleep(s.Interval)
		}
	}
	one.Owners = OwnersOn
	now, warn, err := sample(one, nss)
	if err != nil {
		return nil, err
	}
	out.Now = now
	snap := now.Snapshot
	warnings = append(append(warnings, snap.Warnings...), warn...)
	out.Units = units(roots, snap)
	ownerFacts(roots, snap)
	if err := countConnections(snap, ns); err != nil {
		warnings = append(warnings, fmt.Sprintf("could not count the connections of the listeners whose owners cap them: %v", err))
	}
	if window != nil {
		withEvidence(snap, window.Namespaces[0].Netns.Inode, window)
	}
	var known bool
	out.ChildNetns, known = childNetns(roots, snap.Sysctls)
	out.NetnsUnknown = !known
	if s.StateDir != "" {
		var inode uint64
		if ns != nil {
			inode = ns.Inode
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
	return out, nil
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
	m, err := snapshot(o, nss, nil)
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
