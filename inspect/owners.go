package inspect

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/rlimit"
)

// OwnerScan is what a walk of /proc/*/fd found.
type OwnerScan struct {
	// Owners maps a socket inode to the pids holding it, ascending.
	Owners map[uint32][]int
	// FDCount is each owner's open descriptors; FDAbove those numbered at
	// or above its soft limit (with limits).
	FDCount map[int]int
	FDAbove map[int]int
	// Nofile is each owner's RLIMIT_NOFILE (with limits).
	Nofile map[int]model.Nofile
	// Unreadable counts the processes whose fd directory could not be read.
	Unreadable int
}

// ScanOwners walks procRoot/[0-9]*/fd once, in parallel, and returns the pids
// holding each socket inode in want. Processes that vanish during the walk are
// skipped; ones we lack permission for are counted. With limits, the
// owners' RLIMIT_NOFILE is read too, while their descriptor names are at
// hand, to tell the descriptors inherited above it.
func ScanOwners(procRoot string, want *hostfs.InodeSet, limits bool) (OwnerScan, error) {
	return StartOwnerWalk(procRoot, limits).Finish(want)
}

// OwnerWalk is a /proc/*/fd walk started before the sockets it looks for
// are known, so that it runs beside the sock_diag dump that lists them: the
// dump keeps one CPU busy in the kernel, the walk the others. Until Finish
// says which inodes are wanted, each process's sockets are kept whole
// (about 4 bytes a socket, for the few thousand descriptors read while the
// dump runs); from then on they are filtered as they are read.
type OwnerWalk struct {
	procRoot string
	limits   bool
	err      error
	stopped  atomic.Bool
	want     atomic.Pointer[hostfs.InodeSet]
	wg       sync.WaitGroup
	workers  []ownerWorker
}

// ownerWorker is one goroutine's share of a walk.
type ownerWorker struct {
	found  []ownerFound
	early  []earlyOwner // read before the wanted inodes were known
	counts map[int]int
	above  map[int]int
	nofile map[int]model.Nofile
	denied int
}

type ownerFound struct {
	pid   int
	inode uint32
}

// earlyOwner is a process read before the wanted inodes were known: every
// socket it holds, its descriptor count, and its limit when asked for.
type earlyOwner struct {
	pid     int
	open    int
	sockets []uint32
	nofile  *model.Nofile
	above   int
}

// StartOwnerWalk lists the processes below procRoot and starts reading
// their descriptors; with limits, each owner's RLIMIT_NOFILE too.
func StartOwnerWalk(procRoot string, limits bool) *OwnerWalk {
	w := &OwnerWalk{procRoot: procRoot, limits: limits}
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		w.err = err
		return w
	}
	pids := make([]int, 0, len(entries))
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	n := min(runtime.GOMAXPROCS(0), max(len(pids), 1))
	w.workers = make([]ownerWorker, n)
	var next atomic.Int64
	for i := range w.workers {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			// Take pids one at a time: one process may hold most descriptors.
			w.workers[i].run(w, pids, &next)
		}()
	}
	return w
}

// run reads the descriptors of pids taken in turn from next.
func (ow *ownerWorker) run(w *OwnerWalk, pids []int, next *atomic.Int64) {
	procRoot := w.procRoot
	fr := hostfs.FDReader{Parallel: runtime.GOMAXPROCS(0)}
	ow.counts, ow.above, ow.nofile = map[int]int{}, map[int]int{}, map[int]model.Nofile{}
	for i := int(next.Add(1)) - 1; i < len(pids) && !w.stopped.Load(); i = int(next.Add(1)) - 1 {
		pid := pids[i]
		want := w.want.Load()
		fr.Want = want // nil until finish: every socket
		n, hits, err := fr.Scan(filepath.Join(procRoot, strconv.Itoa(pid), "fd"))
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				ow.denied++
			}
			continue
		}
		if len(hits) == 0 {
			continue
		}
		var lim *model.Nofile
		above := 0
		// The limit is read here, with the names still in the reader, to
		// tell descriptors inherited above it.
		if w.limits {
			if l, err := rlimit.ReadNofile(procRoot, pid); err == nil {
				lim, above = &l, n-fr.Below(l.Soft)
			}
		}
		if want == nil {
			ow.early = append(ow.early, earlyOwner{pid: pid, open: n, sockets: slices.Clone(hits), nofile: lim, above: above})
			continue
		}
		ow.add(pid, n, hits, lim, above)
	}
}

// add records pid as the holder of hits (already filtered).
func (ow *ownerWorker) add(pid, open int, hits []uint32, lim *model.Nofile, above int) {
	for _, ino := range hits {
		ow.found = append(ow.found, ownerFound{pid, ino})
	}
	ow.counts[pid] = open
	if lim != nil {
		ow.nofile[pid], ow.above[pid] = *lim, above
	}
}

// Roots are the roots the walk reads: its /proc.
func (w *OwnerWalk) Roots() hostfs.Roots { return hostfs.Roots{Proc: w.procRoot} }

// Stop ends a walk whose results are not wanted (the dump failed) and
// waits for its goroutines.
func (w *OwnerWalk) Stop() {
	w.stopped.Store(true)
	w.wg.Wait()
}

// Finish says which inodes are wanted, waits for the walk, and returns the
// owners of want.
func (w *OwnerWalk) Finish(want *hostfs.InodeSet) (OwnerScan, error) {
	if w.err != nil {
		return OwnerScan{}, w.err
	}
	if want == nil {
		want = hostfs.NewInodeSet(nil) // nil would mean every socket
	}
	w.want.Store(want)
	w.wg.Wait()
	scan := OwnerScan{Owners: map[uint32][]int{}, FDCount: map[int]int{}, FDAbove: map[int]int{}, Nofile: map[int]model.Nofile{}}
	for i := range w.workers {
		ow := &w.workers[i]
		for _, e := range ow.early {
			hits := slices.DeleteFunc(e.sockets, func(ino uint32) bool { return !want.Has(ino) })
			if len(hits) > 0 {
				ow.add(e.pid, e.open, hits, e.nofile, e.above)
			}
		}
		for _, f := range ow.found {
			scan.Owners[f.inode] = append(scan.Owners[f.inode], f.pid)
		}
		for pid, n := range ow.counts {
			scan.FDCount[pid] = n
		}
		for pid, n := range ow.above {
			scan.FDAbove[pid] = n
		}
		for pid, lim := range ow.nofile {
			scan.Nofile[pid] = lim
		}
		scan.Unreadable += ow.denied
	}
	// A process holding one socket in several descriptors (dup, inherited
	// copies) is one owner.
	for ino, pids := range scan.Owners {
		sort.Ints(pids)
		scan.Owners[ino] = slices.Compact(pids)
	}
	return scan, nil
}

// UnreadableNote says how many processes' descriptors could not be read.
func UnreadableNote(n int) string {
	return fmt.Sprintf("could not read the descriptors of %d processes (run as root to see every owner)", n)
}
