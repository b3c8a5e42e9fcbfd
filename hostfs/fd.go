package hostfs

import (
	"encoding/binary"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BigFDDir is the descriptor count above which one process's descriptors are
// read by several goroutines.
const BigFDDir = 4096

// FDReader reads /proc/PID/fd directories with buffers reused from one
// process to the next. Each descriptor costs one readlinkat; on procfs,
// where stat gives the number of open descriptors (Linux 6.2 and later),
// the numbers are probed in order until that many are found, so a dense
// descriptor table is read without getdents, which costs a sixth as much
// again per descriptor (it builds a dentry for each). A sparse table falls
// back to getdents for what the probe left. Names from getdents stay in its
// buffer, NUL-terminated as the kernel wrote them, and are passed to
// readlinkat from there: no allocation per descriptor.
type FDReader struct {
	// Want are the socket inodes looked for; nil collects every socket.
	Want *InodeSet
	// Parallel is the goroutines for a directory bigger than BigFDDir.
	Parallel int
	dents    []byte  // linux_dirent64 records of the current directory
	names    []int32 // offset in dents of each descriptor's name still to read
	fds      []int32 // every descriptor number found
	hits     []uint32
	probed   []fdRange // descriptor numbers already read by the probe
}

// fdRange is a half-open range of descriptor numbers.
type fdRange struct{ lo, hi int32 }

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
	r.hits, r.fds, r.probed = r.hits[:0], r.fds[:0], r.probed[:0]
	count := procFDCount(dfd)
	if count > 0 && r.probe(dfd, count) {
		return len(r.fds), r.hits, nil
	}
	if err := r.readNames(dfd, count); err != nil {
		return 0, nil, &fs.PathError{Op: "getdents", Path: dir, Err: err}
	}
	r.parallel(len(r.names), func(lo, hi int, hits []uint32) []uint32 {
		return readLinks(dfd, r.dents, r.names[lo:hi], r.Want, hits)
	})
	return len(r.fds), r.hits, nil
}

// parallel runs read over [0,n), split among r.Parallel goroutines when n is
// above BigFDDir, and appends what they return to r.hits.
func (r *FDReader) parallel(n int, read func(lo, hi int, hits []uint32) []uint32) {
	if n <= BigFDDir || r.Parallel < 2 {
		r.hits = read(0, n, r.hits)
		return
	}
	parts := make([][]uint32, r.Parallel)
	per := (n + r.Parallel - 1) / r.Parallel
	var wg sync.WaitGroup
	for p := range parts {
		lo, hi := min(p*per, n), min((p+1)*per, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[p] = read(lo, hi, nil)
		}()
	}
	wg.Wait()
	for _, p := range parts {
		r.hits = append(r.hits, p...)
	}
}

// procFDCount is the number of open descriptors stat reports for a
// /proc/PID/fd directory (Linux 6.2 and later); 0 when it does not, or when
// the directory is not on procfs (a fixture tree, whose size means bytes).
func procFDCount(dfd int) int {
	var sfs unix.Statfs_t
	var st unix.Stat_t
	if unix.Fstatfs(dfd, &sfs) != nil || sfs.Type != unix.PROC_SUPER_MAGIC || unix.Fstat(dfd, &st) != nil {
		return 0
	}
	return int(max(st.Size, 0))
}

// probe reads descriptors 0, 1, 2... until count are found, r.Parallel
// ranges at a time below count and one by one above it. A number that is
// not open costs a lookup that finds nothing (about two-thirds of a
// readlinkat here), so the probe stops once the holes pass an eighth of
// count, which keeps it cheaper than getdents, and reports false; r.probed
// then says which numbers it read.
func (r *FDReader) probe(dfd, count int) bool {
	budget := int64(count/8 + 16)
	var holes atomic.Int64
	type part struct {
		fds  []int32
		hits []uint32
		end  int32 // first number not read
	}
	parts := make([]part, max(r.Parallel, 1))
	if count <= BigFDDir {
		parts = parts[:1]
	}
	per := (count + len(parts) - 1) / len(parts)
	// read probes [lo,hi) until need descriptors are in p.fds.
	read := func(p *part, lo, hi, need int) {
		var name [12]byte
		var buf [64]byte
		fd := lo
		for ; fd < hi && len(p.fds) < need && holes.Load() <= budget; fd++ {
			n, errno := readlinkat(dfd, fdName(&name, fd), buf[:])
			if errno == unix.ENOENT {
				holes.Add(1)
				continue
			}
			p.fds = append(p.fds, int32(fd))
			if errno != 0 || n == len(buf) {
				continue
			}
			if ino, ok := socketInode(buf[:n]); ok && r.Want.Has(ino) {
				p.hits = append(p.hits, ino)
			}
		}
		p.end = int32(fd)
	}
	// The first range is read here, into r's own buffers; the others in
	// goroutines, appended after it.
	parts[0].fds, parts[0].hits = r.fds, r.hits
	var wg sync.WaitGroup
	for i := 1; i < len(parts); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			read(&parts[i], min(i*per, count), min((i+1)*per, count), count)
		}()
	}
	read(&parts[0], 0, min(per, count), count)
	wg.Wait()
	for i, p := range parts {
		if i > 0 {
			parts[0].fds, parts[0].hits = append(parts[0].fds, p.fds...), append(parts[0].hits, p.hits...)
		}
		r.probed = append(r.probed, fdRange{int32(min(i*per, count)), p.end})
	}
	// Holes below count push as many descriptors above it.
	read(&parts[0], count, 1<<31-1, count)
	r.fds, r.hits = parts[0].fds, parts[0].hits
	r.probed = append(r.probed, fdRange{int32(count), parts[0].end})
	return len(r.fds) >= count
}

// fdName writes fd's decimal name, NUL-terminated, into name.
func fdName(name *[12]byte, fd int) *byte {
	i := len(name) - 1
	name[i] = 0
	for {
		i--
		name[i] = byte('0' + fd%10)
		fd /= 10
		if fd == 0 {
			return &name[i]
		}
	}
}

// direntSize is the size of a linux_dirent64 record for a descriptor number
// of up to five digits: 19 bytes of header, the name and its NUL, 8-aligned.
const direntSize = 32

// readNames fills r.dents with the directory's entries and r.names with
// those the probe did not read (less "." and ".."), adding their numbers to
// r.fds. count, when known, sizes the buffer.
func (r *FDReader) readNames(dfd, count int) error {
	if r.dents == nil {
		r.dents = make([]byte, 64<<10)
	}
	// Size the buffer for the open descriptors at once instead of doubling
	// it as it fills.
	if need := count*direntSize + 8<<10; need > len(r.dents) {
		r.dents = make([]byte, need)
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
			fd, ok := fdNumber(name)
			if !ok || !r.wasProbed(fd) {
				r.names = append(r.names, int32(off+19))
				r.fds = append(r.fds, int32(min(fd, 1<<31-1)))
			}
		}
		off += reclen
	}
	return nil
}

// wasProbed reports whether the probe already read descriptor fd.
func (r *FDReader) wasProbed(fd uint64) bool {
	for _, p := range r.probed {
		if fd >= uint64(p.lo) && fd < uint64(p.hi) {
			return true
		}
	}
	return false
}

// readLinks reads the link of each named descriptor and appends to hits the
// socket inodes that are in want.
func readLinks(dfd int, dents []byte, names []int32, want *InodeSet, hits []uint32) []uint32 {
	var buf [64]byte
	for _, off := range names {
		n, errno := readlinkat(dfd, &dents[off], buf[:])
		if errno != 0 || n == len(buf) {
			continue
		}
		if ino, ok := socketInode(buf[:n]); ok && want.Has(ino) {
			hits = append(hits, ino)
		}
	}
	return hits
}

// readlinkat is readlinkat(2) on a NUL-terminated name, without the string
// conversion unix.Readlinkat makes per call. It is a raw system call (no
// hand-over of the scheduler's P): a /proc/PID/fd link is read in a few
// microseconds without sleeping on I/O, and the runtime's entry and exit
// bookkeeping was a tenth of the owner scan's user time.
func readlinkat(dfd int, name *byte, buf []byte) (int, unix.Errno) {
	n, _, errno := unix.RawSyscall6(unix.SYS_READLINKAT, uintptr(dfd), uintptr(unsafe.Pointer(name)),
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
	for _, fd := range r.fds {
		if uint64(fd) < limit {
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

// fdReaders are the readers Descriptors reuses: a new one's buffers (64 KiB
// of directory entries at least) were an allocation per owner per report of
// trace, watch and the exporter.
var fdReaders = sync.Pool{New: func() any { return new(FDReader) }}

// Descriptors reads /proc/PID/fd: the count, how many sit at or above
// softLimit (0: no limit to compare with), and the socket inodes. Errors
// are *fs.PathError, with ENOENT (gone) and EACCES (needs ptrace access)
// passed through.
func (r Roots) Descriptors(pid int, softLimit uint64) (FDs, error) {
	fr := fdReaders.Get().(*FDReader)
	defer fdReaders.Put(fr)
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
