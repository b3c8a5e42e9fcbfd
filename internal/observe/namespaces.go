package observe

import (
	"context"
	"path/filepath"

	"github.com/backlogctl/backlogctl/check"
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/netns"
)

// NamespaceObservation is one network namespace's observation.
type NamespaceObservation struct {
	Netns netns.Namespace
	*check.Observation
}

// Skipped is a namespace that could not be read, and why (errors.Is
// netns.ErrVanished when it went away between listing and entering).
type Skipped struct {
	Netns netns.Namespace
	Err   error
}

// Reader takes one observation from a Source: Gather, or an Observe window.
type Reader func(Source) (*check.Observation, error)

// GatherReader is Gather as a Reader.
func GatherReader(src Source) (*check.Observation, error) { return Gather(src), nil }

// ObserveReader is Observe over o's window as a Reader.
func ObserveReader(ctx context.Context, o ObserveOptions) Reader {
	return func(src Source) (*check.Observation, error) { return Observe(ctx, src, o) }
}

// ReadNamespaces runs read inside each namespace in nss, each on its own
// locked OS thread, at most parallel at a time (0: all at once, as --observe
// windows must be, to overlap in time). Inside,
// listeners, per-netns tunables and counters are the namespace's own: the
// sock_diag socket is opened there (a netlink socket keeps the namespace it
// was created in) and counters come from /proc/thread-self/net (/proc/self/net
// follows the thread-group leader, not the thread; proc_tgid_net_lookup).
// When src.Processes, owners are found afterwards with one /proc/*/fd scan for
// every namespace, from here, since socket inodes are unique host-wide; what
// that scan could not read is returned in warnings.
func ReadNamespaces(nss []netns.Namespace, src Source, read Reader, parallel int) (got []NamespaceObservation, skipped []Skipped, warnings []string) {
	inner := src
	inner.Roots.Proc = filepath.Join(src.procRoot(), "thread-self")
	inner.Processes = false
	inner.Dumper = nil // a dumper belongs to the namespace it was opened in
	obs := make([]*check.Observation, len(nss))
	errs := netns.EachParallel(nss, parallel, func(i int, ns netns.Namespace) error {
		return netns.Do(ns.Path, func() error {
			var err error
			obs[i], err = read(inner)
			return err
		})
	})
	for i, ns := range nss {
		if errs[i] != nil {
			skipped = append(skipped, Skipped{Netns: ns, Err: errs[i]})
			continue
		}
		got = append(got, NamespaceObservation{Netns: ns, Observation: obs[i]})
	}
	if src.Processes {
		warnings = attachOwners(src.Roots, got)
	}
	return got, skipped, warnings
}

// attachOwners finds the owners of every namespace's listeners in one scan
// and copies them onto the judged listeners, matched by socket inode (after
// a window they are the window's, not the last snapshot's).
func attachOwners(roots hostfs.Roots, got []NamespaceObservation) []string {
	all := &inspect.Snapshot{}
	for _, g := range got {
		if g.Snapshot != nil {
			all.Listeners = append(all.Listeners, g.Snapshot.Listeners...)
		}
	}
	inspect.AttachProcesses(roots, all)
	owners := make(map[uint32][]inspect.Process, len(all.Listeners))
	for _, l := range all.Listeners {
		owners[l.Inode] = l.Processes
	}
	for _, g := range got {
		if g.Snapshot == nil {
			continue // listeners could not be dumped: process.* says so
		}
		g.ProcessesScanned = true
		for i := range g.Listeners {
			g.Listeners[i].Processes = owners[g.Listeners[i].Inode]
		}
		for i := range g.Snapshot.Listeners {
			g.Snapshot.Listeners[i].Processes = owners[g.Snapshot.Listeners[i].Inode]
		}
	}
	return all.Warnings
}
