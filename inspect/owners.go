package inspect

import (
	"encoding/binary"
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
	"sync/atomic"
	"unsafe"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/model"
)

// Process is a process holding a listening socket, with its descriptor usage.
type Process = model.Process

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
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			fr := fdReader{want: want, parallel: runtime.GOMAXPROCS(0)}
			counts[w] = map[int]int{}
			// Take pids one at a time: one process may hold most descriptors.
			for i := int(next.Add(1)) - 1; i < len(pids); i = int(next.Add(1)) - 1 {
				pid := pids[i]
				n, hits, err := fr.scan(filepath.Join(procRoot, strconv.Itoa(pid), "fd"))
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

// bigFDDir is the descriptor count above which one process's descriptors are
// read by several goroutines.
const bigFDDir = 4096

// fdReader reads /proc/PID/fd directories with buffers reused from one
// process to the next: the names stay in the getdents buffer, NUL-terminated
// as the kernel wrote them, and are passed to readlinkat from there, so a
// descriptor costs two system calls' share and no allocation.
type fdReader struct {
	want     map[uint32]struct{}
	parallel int     // goroutines for a directory bigger than bigFDDir
	dents    []byte  // linux_dirent64 records of the current directory
	names    []int32 // offset in dents of each descriptor's name
	hits     []uint32
}

// scan reads one /proc/PID/fd directory: how many descriptors it holds, and
// which of them are sockets whose inode is in want. The hits are valid until
// the next call.
func (r *fdReader) scan(dir string) (int, []uint32, error) {
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(dfd)
	if err := r.readNames(dfd); err != nil {
		return 0, nil, &fs.PathError{Op: "getdents", Path: dir, Err: err}
	}
	r.hits = r.hits[:0]
	if len(r.names) <= bigFDDir || r.parallel < 2 {
		r.hits = readLinks(dfd, r.dents, r.names, r.want, r.hits)
		return len(r.names), r.hits, nil
	}
	parts := make([][]uint32, r.parallel)
	per := (len(r.names) + r.parallel - 1) / r.parallel
	var wg sync.WaitGroup
	for p := range parts {
		lo, hi := min(p*per, len(r.names)), min((p+1)*per, len(r.names))
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[p] = readLinks(dfd, r.dents, r.names[lo:hi], r.want, nil)
		}()
	}
	wg.Wait()
	for _, p := range parts {
		r.hits = append(r.hits, p...)
	}
	return len(r.names), r.hits, nil
}

// direntSize is the size of a linux_dirent64 record for a descriptor number
// of up to five digits: 19 bytes of header, the name and its NUL, 8-aligned.
const direntSize = 32

// readNames fills r.dents and r.names with the directory's entries, less
// "." and "..".
func (r *fdReader) readNames(dfd int) error {
	if r.dents == nil {
		r.dents = make([]byte, 64<<10)
	}
	// stat on /proc/PID/fd counts the open descriptors (since Linux 6.2):
	// size the buffer for them at once instead of doubling it as it fills.
	var st unix.Stat_t
	if unix.Fstat(dfd, &st) == nil && st.Size > 0 {
		if need := int(st.Size)*direntSize + 8<<10; need > len(r.dents) {
			r.dents = make([]byte, need)
		}
	}
	used := 0
	for {
		if len(r.dents)-used < 8<<10 {
			r.dents = slices.Grow(r.dents[:used], len(r.dents))
			r.dents = r.dents[:cap(r.dents)]
		}
		n, err := unix.Getdents(dfd, r.dents[used:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		used += n
	}
	r.names = r.names[:0]
	// struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name.
	for off := 0; off+19 < used; {
		reclen := int(binary.NativeEndian.Uint16(r.dents[off+16:]))
		if reclen == 0 {
			break
		}
		name := r.dents[off+19 : off+reclen]
		if !(name[0] == '.' && (name[1] == 0 || name[1] == '.' && name[2] == 0)) {
			r.names = append(r.names, int32(off+19))
		}
		off += reclen
	}
	return nil
}

// readLinks reads the link of each named descriptor and appends to hits the
// socket inodes that are in want.
func readLinks(dfd int, dents []byte, names []int32, want map[uint32]struct{}, hits []uint32) []uint32 {
	var buf [64]byte
	for _, off := range names {
		n, errno := readlinkat(dfd, &dents[off], buf[:])
		if errno != 0 || n == len(buf) {
			continue
		}
		if ino, ok := socketInode(buf[:n]); ok {
			if _, ok := want[ino]; ok {
				hits = append(hits, ino)
			}
		}
	}
	return hits
}

// readlinkat is readlinkat(2) on a NUL-terminated name, without the string
// conversion unix.Readlinkat makes per call.
func readlinkat(dfd int, name *byte, buf []byte) (int, unix.Errno) {
	n, _, errno := unix.Syscall6(unix.SYS_READLINKAT, uintptr(dfd), uintptr(unsafe.Pointer(name)),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	return int(n), errno
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
