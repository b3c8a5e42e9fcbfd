package hostfs

import (
	"encoding/binary"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BigFDDir is the descriptor count above which one process's descriptors are
// read by several goroutines.
const BigFDDir = 4096

// FDReader reads /proc/PID/fd directories with buffers reused from one
// process to the next: the names stay in the getdents buffer, NUL-terminated
// as the kernel wrote them, and are passed to readlinkat from there, so a
// descriptor costs two system calls' share and no allocation.
type FDReader struct {
	// Want are the socket inodes looked for; nil collects every socket.
	Want map[uint32]struct{}
	// Parallel is the goroutines for a directory bigger than BigFDDir.
	Parallel int
	dents    []byte  // linux_dirent64 records of the current directory
	names    []int32 // offset in dents of each descriptor's name
	hits     []uint32
}

// Scan reads one /proc/PID/fd directory: how many descriptors it holds, and
// which of them are sockets whose inode is in Want (every socket when Want
// is nil). The hits are valid until
// the next call.
func (r *FDReader) Scan(dir string) (int, []uint32, error) {
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(dfd)
	if err := r.readNames(dfd); err != nil {
		return 0, nil, &fs.PathError{Op: "getdents", Path: dir, Err: err}
	}
	r.hits = r.hits[:0]
	if len(r.names) <= BigFDDir || r.Parallel < 2 {
		r.hits = readLinks(dfd, r.dents, r.names, r.Want, r.hits)
		return len(r.names), r.hits, nil
	}
	parts := make([][]uint32, r.Parallel)
	per := (len(r.names) + r.Parallel - 1) / r.Parallel
	var wg sync.WaitGroup
	for p := range parts {
		lo, hi := min(p*per, len(r.names)), min((p+1)*per, len(r.names))
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[p] = readLinks(dfd, r.dents, r.names[lo:hi], r.Want, nil)
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
func (r *FDReader) readNames(dfd int) error {
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
			if _, ok := want[ino]; ok || want == nil {
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

// Below counts the descriptors of the last Scan numbered below limit. The
// kernel checks RLIMIT_NOFILE only when it allocates a descriptor
// (alloc_fd: fd >= rlimit), so a process can hold descriptors it inherited
// above its limit (a shell's fd 255, a supervisor's pipe); those do not use
// up the room accept() has.
func (r *FDReader) Below(limit uint64) int {
	n := 0
	for _, off := range r.names {
		fd, ok := fdNumber(r.dents[off:])
		if !ok || fd < limit {
			n++
		}
	}
	return n
}

// fdNumber parses a NUL-terminated descriptor name.
func fdNumber(name []byte) (uint64, bool) {
	var v uint64
	for i, c := range name {
		if c == 0 {
			return v, i > 0
		}
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return 0, false
}

// FDs is what a process's descriptor table holds.
type FDs struct {
	// Open is every open descriptor, as /proc/PID/fd lists them.
	Open int
	// AboveLimit are the ones numbered at or above the soft limit asked
	// about: inherited, and not counting against it.
	AboveLimit int
	// SocketInodes are the inodes of every socket held.
	SocketInodes []uint32
}

// InLimit is the descriptors that count against the limit:
// the limit itself means the next accept() fails with EMFILE.
func (f FDs) InLimit() int { return f.Open - f.AboveLimit }

// Descriptors reads /proc/PID/fd: the count, how many sit at or above
// softLimit (0: no limit to compare with), and the socket inodes. Errors
// are *fs.PathError, with ENOENT (gone) and EACCES (needs ptrace access)
// passed through.
func (r Roots) Descriptors(pid int, softLimit uint64) (FDs, error) {
	var fr FDReader
	open, inodes, err := fr.Scan(filepath.Join(r.WithDefaults().Proc, strconv.Itoa(pid), "fd"))
	if err != nil {
		return FDs{}, err
	}
	f := FDs{Open: open, SocketInodes: slices.Clone(inodes)}
	if softLimit > 0 {
		f.AboveLimit = open - fr.Below(softLimit)
	}
	return f, nil
}
