package collect

import (
	"errors"
	"io/fs"
	"sync"
	"time"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/rlimit"
)

// ownerCache attributes listeners to processes across repeated snapshots
// (the exporter's scrapes) without walking every /proc/PID/fd each time: the
// walk readlinks every descriptor on the host (~4µs each here), so it is
// redone only when a listener's inode is new, an owner has exited, or
// MaxAge has passed. In between, only the owners' own descriptor counts
// and limits are re-read. Safe for concurrent use.
//
// With Background set, only the first walk is made by Attach; later ones run
// in a goroutine while Attach answers from the cache, so a scrape never waits
// for a walk. A listener the cache cannot answer for yet (new, or every
// owner it knew has exited) is marked OwnersPending until that walk is done;
// so is one whose owner's pod the runtime is still being asked about.
type ownerCache struct {
	// Roots are where /proc is read ("": the host's).
	Roots      hostfs.Roots
	MaxAge     time.Duration
	Background bool
	// Pods, when set, names each owner's container and pod.
	Pods *podNamer

	mu         sync.Mutex
	owners     map[uint32][]int // socket inode -> pids; an empty list means none found
	scanned    time.Time
	warn       string
	refreshing bool
}

// Attach fills in the Processes of every listener in every snapshot and
// returns a warning about owners that could not be seen, if any.
func (c *ownerCache) Attach(snaps ...*model.Snapshot) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	procRoot := c.Roots.WithDefaults().Proc
	switch {
	case c.owners == nil || (c.stale(snaps) && !c.Background):
		c.owners, c.warn = walkOwners(procRoot, wantedInodes(snaps))
		c.scanned = time.Now()
	case c.stale(snaps):
		c.refresh(procRoot, snaps)
	}
	procs := map[int]*model.Process{}
	pending := map[int]bool{}
	gone := false
	for _, s := range snaps {
		for i := range s.Listeners {
			l := &s.Listeners[i]
			l.Processes = l.Processes[:0]
			pids, known := c.owners[l.Inode]
			l.OwnersPending = !known && l.Inode != 0
			for _, pid := range pids {
				p, ok := procs[pid]
				if !ok {
					p = ownerProcess(procRoot, pid)
					if p != nil {
						p.Workload, pending[pid] = c.Pods.workload(pid)
					}
					procs[pid] = p
				}
				if p == nil {
					gone = true
					continue
				}
				// Not published until its pod is named: a series labelled
				// without it would be a series of its own.
				l.OwnersPending = l.OwnersPending || pending[pid]
				l.Processes = append(l.Processes, *p)
			}
			if len(pids) > 0 && len(l.Processes) == 0 {
				l.OwnersPending = true // every owner exited: who holds it now?
			}
		}
	}
	if gone {
		c.scanned = time.Time{} // an owner exited: walk again
		if c.Background {
			c.refresh(procRoot, snaps)
		}
	}
	return c.warn
}

// refresh starts a background walk for snaps' listeners unless one is
// running. c.mu is held.
func (c *ownerCache) refresh(procRoot string, snaps []*model.Snapshot) {
	if c.refreshing {
		return
	}
	c.refreshing = true
	want := wantedInodes(snaps)
	go func() {
		owners, warn := walkOwners(procRoot, want)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.owners, c.warn, c.scanned, c.refreshing = owners, warn, time.Now(), false
	}()
}

// stale reports whether the cached owners cannot be trusted for snaps.
func (c *ownerCache) stale(snaps []*model.Snapshot) bool {
	if c.owners == nil || time.Since(c.scanned) > c.MaxAge {
		return true
	}
	for _, s := range snaps {
		for _, l := range s.Listeners {
			if _, ok := c.owners[l.Inode]; !ok && l.Inode != 0 {
				return true
			}
		}
	}
	return false
}

// wantedInodes is the set of the listeners' socket inodes.
func wantedInodes(snaps []*model.Snapshot) *hostfs.InodeSet {
	var inodes []uint32
	for _, s := range snaps {
		for _, l := range s.Listeners {
			inodes = append(inodes, l.Inode)
		}
	}
	return hostfs.NewInodeSet(inodes)
}

// walkOwners walks /proc/*/fd for the owners of want; every wanted inode
// gets an entry, empty when no owner was seen.
func walkOwners(procRoot string, want *hostfs.InodeSet) (map[uint32][]int, string) {
	owners := map[uint32][]int{}
	scan, err := inspect.ScanOwners(procRoot, want, false)
	if err != nil {
		return owners, "process attribution: " + err.Error()
	}
	for _, ino := range want.Inodes() {
		owners[ino] = scan.Owners[ino]
	}
	if scan.Unreadable > 0 {
		return owners, inspect.UnreadableNote(scan.Unreadable)
	}
	return owners, ""
}

// ownerProcess reads one owner's names, descriptor count and limits; nil if
// it has exited.
func ownerProcess(procRoot string, pid int) *model.Process {
	n, err := rlimit.ReadNofile(procRoot, pid)
	if err != nil && errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	roots := hostfs.Roots{Proc: procRoot}
	fds, err := roots.Descriptors(pid, n.Soft)
	if err != nil {
		return nil
	}
	p := &model.Process{PID: pid, OpenFDs: fds.Open, FDsAboveLimit: fds.AboveLimit, NofileSoft: n.Soft, NofileHard: n.Hard}
	p.Comm, _ = roots.Comm(pid)
	p.Cmdline, _ = roots.Cmdline(pid)
	return p
}
