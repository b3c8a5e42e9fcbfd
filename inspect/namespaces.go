package inspect

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/netns"
)

// NamespaceSnapshot is one network namespace's snapshot, labelled with the
// namespace.
type NamespaceSnapshot = model.NamespaceSnapshot

// MultiSnapshot is what inspect --all-netns reports: one snapshot per namespace.
type MultiSnapshot = model.MultiSnapshot

// GatherIn takes a snapshot inside the network namespace ns. The listeners,
// tunables and counters are read on a thread that has entered it (counters
// from /proc/thread-self/net: /proc/self/net follows the thread-group leader,
// not the thread; proc_tgid_net_lookup); owners are found afterwards with a
// /proc/*/fd scan from here, since socket inodes are unique host-wide.
func GatherIn(ns netns.Namespace, opts Options) (*Snapshot, error) {
	opts.Roots = opts.Roots.WithDefaults()
	inner := opts
	inner.Roots.Proc = filepath.Join(opts.Roots.Proc, "thread-self")
	inner.Processes = false
	inner.Dumper = nil  // a dumper belongs to the namespace it was opened in
	var walk *ownerWalk // beside the dump, as in Gather
	if opts.Processes {
		walk = startOwnerWalk(opts.Roots.Proc, true)
	}
	var snap *Snapshot
	err := netns.Do(ns.Path, func() error {
		var err error
		snap, err = Gather(inner)
		return err
	})
	if err != nil {
		if walk != nil {
			walk.stop()
		}
		return nil, err
	}
	if walk != nil {
		snap.Warnings = appendOwnerWarnings(snap.Warnings, walk, snap.Listeners)
	}
	return snap, nil
}

// AttachProcesses finds the owners of snap's listeners (a /proc/*/fd scan
// below roots.Proc) and adds them, with a warning for what it could not read.
func AttachProcesses(roots hostfs.Roots, snap *Snapshot) {
	snap.Warnings = appendOwnerWarnings(snap.Warnings, startOwnerWalk(roots.WithDefaults().Proc, true), snap.Listeners)
}

// appendOwnerWarnings finishes walk for ls and appends what it could not
// read to warnings.
func appendOwnerWarnings(warnings []string, walk *ownerWalk, ls []Listener) []string {
	warn, err := attachProcesses(walk, ls)
	if err != nil {
		warnings = append(warnings, fmt.Sprintf("process attribution: %v", err))
	}
	if warn != "" {
		warnings = append(warnings, warn)
	}
	return warnings
}

// GatherAll takes a snapshot in each namespace. A namespace that vanished
// since it was listed is skipped with a note; any other failure to enter or
// read one is also a note, so one bad namespace does not hide the rest.
// Owners are found with a single /proc/*/fd scan for all of them.
func GatherAll(nss []netns.Namespace, opts Options) *MultiSnapshot {
	out := &MultiSnapshot{Time: time.Now().UTC(), Namespaces: []NamespaceSnapshot{}}
	inner := opts
	inner.Processes = false
	var walk *ownerWalk // beside the dumps, as in Gather
	if opts.Processes {
		walk = startOwnerWalk(opts.Roots.WithDefaults().Proc, true)
	}
	out.Notes = netns.Each(nss, func(ns netns.Namespace) error {
		snap, err := GatherIn(ns, inner)
		if err == nil {
			out.Namespaces = append(out.Namespaces, NamespaceSnapshot{Netns: ns, Snapshot: snap})
		}
		return err
	})
	if walk != nil {
		attachAll(walk, out)
	}
	return out
}

// attachAll finishes walk for every namespace's listeners: one scan.
func attachAll(walk *ownerWalk, m *MultiSnapshot) {
	var all []Listener
	for _, ns := range m.Namespaces {
		all = append(all, ns.Listeners...)
	}
	m.Notes = appendOwnerWarnings(m.Notes, walk, all)
	i := 0
	for _, ns := range m.Namespaces {
		for j := range ns.Listeners {
			ns.Listeners[j].Processes = all[i].Processes
			i++
		}
	}
}
