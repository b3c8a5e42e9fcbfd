package check

import (
	"context"
	"fmt"
	"runtime"

	"github.com/backlogctl/backlogctl/check"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/observe"
	"github.com/backlogctl/backlogctl/netns"
)

// labelled is one observation to judge, with the namespace it was taken in
// ("" when no namespace flag was given).
type labelled struct {
	netns string
	// inode is the namespace's inode, for joining traced evidence.
	inode uint64
	obs   *check.Observation
}

// observe takes the observations to judge: one, here, without a namespace
// flag; one per namespace with --netns or --all-netns. notes say which
// namespaces were skipped and why.
func (o *Options) observe(ctx context.Context, src observe.Source) ([]labelled, []string, error) {
	if o.Observe == 0 || !needsTrace(o.requirements) {
		return o.observeSampled(ctx, src)
	}
	t := o.startTrace(ctx)
	views, notes, err := o.observeSampled(ctx, src)
	if err != nil {
		<-t.done
		return nil, nil, err
	}
	if note := t.finish(views); note != "" {
		notes = append(notes, note)
	}
	return views, notes, nil
}

// observeSampled takes the observations by sock_diag and /proc alone.
func (o *Options) observeSampled(ctx context.Context, src observe.Source) ([]labelled, []string, error) {
	oo := observe.ObserveOptions{Window: o.Observe, Interval: o.SampleInterval}
	if !o.Namespaces.Set() {
		cur, _ := netns.Current()
		if o.Observe == 0 {
			return []labelled{{inode: cur.Inode, obs: o.Snapshot(src)}}, nil, nil
		}
		obs, err := o.Watch(ctx, src, oo)
		if err != nil {
			return nil, nil, cmdutil.EnvError(fmt.Errorf("observing: %w", err))
		}
		return []labelled{{inode: cur.Inode, obs: obs}}, nil, nil
	}
	nss, notes, err := o.Namespaces.Namespaces(src.Roots)
	if err != nil {
		return nil, nil, err
	}
	// Snapshots a few at a time; windows all at once, to overlap.
	read, parallel := observe.GatherReader, runtime.GOMAXPROCS(0)
	if o.Observe > 0 {
		read, parallel = observe.ObserveReader(ctx, oo), 0
	}
	got, skipped, warnings := observe.ReadNamespaces(nss, src, read, parallel)
	if !o.Namespaces.All && len(skipped) > 0 {
		// The one namespace asked for could not be read.
		return nil, nil, cmdutil.EnvError(fmt.Errorf("--netns %s: %w", o.Namespaces.Netns, skipped[0].Err))
	}
	for _, s := range skipped {
		notes = append(notes, netns.SkipNote(s.Netns, s.Err))
	}
	notes = append(notes, warnings...)
	if len(got) == 0 {
		return nil, nil, cmdutil.EnvError(fmt.Errorf("no network namespace could be read (%d skipped)", len(skipped)))
	}
	out := make([]labelled, 0, len(got))
	for _, g := range got {
		out = append(out, labelled{netns: g.Netns.Label(), inode: g.Netns.Inode, obs: g.Observation})
	}
	return out, notes, nil
}
