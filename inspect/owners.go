package inspect

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
)

// Process is a process holding a listening socket, with its descriptor usage.
type Process struct {
	PID        int    `json:"pid"`
	Comm       string `json:"comm"`
	OpenFDs    int    `json:"open_fds"`
	NofileSoft uint64 `json:"nofile_soft"`
	NofileHard uint64 `json:"nofile_hard"`
	// Cmdline is the command line, for recognising the program (nginx, haproxy ...).
	Cmdline string `json:"cmdline,omitempty"`
}

// FDUsage is OpenFDs against the soft RLIMIT_NOFILE (what accept() hits with EMFILE).
func (p Process) FDUsage() float64 {
	if p.NofileSoft == 0 {
		return 0
	}
	return float64(p.OpenFDs) / float64(p.NofileSoft)
}

// ownerScan is what a walk of /proc/*/fd found.
type ownerScan struct {
	owners     map[uint32][]int // socket inode -> pids holding it
	fdCount    map[int]int      // pid -> open descriptors, for owners only
	unreadable int              // processes whose fd directory we may not read
}

// scanOwners walks procRoot/[0-9]*/fd once, in parallel, and returns the pids
// holding each socket inode in want. Processes that vanish during the walk are
// skipped; ones we lack permission for are counted.
func scanOwners(procRoot string, want map[uint32]struct{}) (ownerScan, error) {
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
	denied := make([]int, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			buf := make([]byte, 64)
			counts[w] = map[int]int{}
			for i := w; i < len(pids); i += workers {
				pid := pids[i]
				n, hits, err := scanFDs(filepath.Join(procRoot, strconv.Itoa(pid), "fd"), want, buf)
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
				}
			}
		}(w)
	}
	wg.Wait()
	scan := ownerScan{owners: map[uint32][]int{}, fdCount: map[int]int{}}
	for w := range results {
		for _, f := range results[w] {
			scan.owners[f.inode] = append(scan.owners[f.inode], f.pid)
		}
		for pid, n := range counts[w] {
			scan.fdCount[pid] = n
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

// scanFDs reads one /proc/PID/fd directory: how many descriptors it holds,
// and which of them are sockets whose inode is in want.
func scanFDs(dir string, want map[uint32]struct{}, buf []byte) (int, []uint32, error) {
	d, err := os.Open(dir)
	if err != nil {
		return 0, nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, nil, err
	}
	dfd := int(d.Fd())
	var hits []uint32
	for _, name := range names {
		n, err := unix.Readlinkat(dfd, name, buf)
		if err != nil || n == len(buf) {
			continue
		}
		if ino, ok := socketInode(buf[:n]); ok {
			if _, ok := want[ino]; ok {
				hits = append(hits, ino)
			}
		}
	}
	return len(names), hits, nil
}

// socketInode parses a descriptor link target of the form "socket:[12345]".
func socketInode(target []byte) (uint32, bool) {
	const prefix = "socket:["
	if len(target) < len(prefix)+2 || string(target[:len(prefix)]) != prefix || target[len(target)-1] != ']' {
		return 0, false
	}
	digits := target[len(prefix) : len(target)-1]
	var v uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
		if v > 1<<32-1 {
			return 0, false
		}
	}
	return uint32(v), true
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
