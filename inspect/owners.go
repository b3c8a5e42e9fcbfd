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
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/procfs"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/rlimit"
)

// Process is a process holding a listening socket, with its descriptor usage.
type Process = model.Process

// ownerScan is what a walk of /proc/*/fd found.
type ownerScan struct {
	owners     map[uint32][]int // socket inode -> pids holding it
	fdCount    map[int]int      // pid -> open descriptors, for owners only
	fdAbove    map[int]int      // pid -> descriptors at or above the soft limit
	nofile     map[int]rlimit.Nofile
	unreadable int // processes whose fd directory we may not read
}

// scanOwners walks procRoot/[0-9]*/fd once, in parallel, and returns the pids
// holding each socket inode in want. Processes that vanish during the walk are
// skipped; ones we lack permission for are counted. With limits, the
// owners' RLIMIT_NOFILE is read too, while their descriptor names are at
// hand, to tell the descriptors inherited above it.
func scanOwners(procRoot string, want map[uint32]struct{}, limits bool) (ownerScan, error) {
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return ownerScan{}, err
	}
	pids := make([]int, 0, len(entries))
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	workers := runtime.GOMAXPROCS(0)
	if workers > len(pids) {
		workers = max(len(pids), 1)
	}
	type found struct {
		pid   int
		inode uint32
	}
	results := make([][]found, workers)
	counts := make([]map[int]int, workers)
	above := make([]map[int]int, workers)
	nofiles := make([]map[int]rlimit.Nofile, workers)
	denied := make([]int, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			fr := hostfs.FDReader{Want: want, Parallel: runtime.GOMAXPROCS(0)}
			counts[w], above[w], nofiles[w] = map[int]int{}, map[int]int{}, map[int]rlimit.Nofile{}
			// Take pids one at a time: one process may hold most descriptors.
			for i := int(next.Add(1)) - 1; i < len(pids); i = int(next.Add(1)) - 1 {
				pid := pids[i]
				n, hits, err := fr.Scan(filepath.Join(procRoot, strconv.Itoa(pid), "fd"))
				if err != nil {
					if errors.Is(err, fs.ErrPermission) {
						denied[w]++
					}
					continue
				}
				for _, ino := range hits {
					results[w] = append(results[w], found{pid, ino})
				}
				if len(hits) > 0 {
					counts[w][pid] = n
					// The limit is read here, with the names still in the
					// reader, to tell descriptors inherited above it.
					if !limits {
						continue
					}
					if lim, err := rlimit.ReadNofile(procRoot, pid); err == nil {
						nofiles[w][pid] = lim
						above[w][pid] = n - fr.Below(lim.Soft)
					}
				}
			}
		}(w)
	}
	wg.Wait()
	scan := ownerScan{owners: map[uint32][]int{}, fdCount: map[int]int{}, fdAbove: map[int]int{}, nofile: map[int]rlimit.Nofile{}}
	for w := range results {
		for _, f := range results[w] {
			scan.owners[f.inode] = append(scan.owners[f.inode], f.pid)
		}
		for pid, n := range counts[w] {
			scan.fdCount[pid] = n
		}
		for pid, n := range above[w] {
			scan.fdAbove[pid] = n
		}
		for pid, lim := range nofiles[w] {
			scan.nofile[pid] = lim
		}
		scan.unreadable += denied[w]
	}
	// A process holding one socket in several descriptors (dup, inherited
	// copies) is one owner.
	for ino, pids := range scan.owners {
		sort.Ints(pids)
		scan.owners[ino] = slices.Compact(pids)
	}
	return scan, nil
}

// processNames returns a process's command name and command line through
// procfs; empty strings if it is gone.
func processNames(pfs procfs.FS, pid int) (comm, cmdline string) {
	p, err := pfs.Proc(pid)
	if err != nil {
		return "", ""
	}
	comm, _ = p.Comm()
	args, _ := p.CmdLine()
	return comm, strings.Join(args, " ")
}

// unreadableNote says how many processes' descriptors could not be read.
func unreadableNote(n int) string {
	return fmt.Sprintf("could not read the descriptors of %d processes (run as root to see every owner)", n)
}
