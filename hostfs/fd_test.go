package hostfs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFDReaderScan checks the getdents/readlinkat reader on fixture fd
// directories, below and above BigFDDir (where it splits the work), with
// links that are not sockets or not wanted mixed in.
func TestFDReaderScan(t *testing.T) {
	for _, n := range []int{0, 7, BigFDDir + 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			dir := t.TempDir()
			var wantHits []uint32
			for fd := 0; fd < n; fd++ {
				target := fmt.Sprintf("socket:[%d]", 1000+fd)
				switch fd % 4 {
				case 0:
					wantHits = append(wantHits, uint32(1000+fd))
				case 1:
					target = "/dev/null"
				case 2:
					target = fmt.Sprintf("pipe:[%d]", fd)
				}
				if err := os.Symlink(target, filepath.Join(dir, fmt.Sprint(fd))); err != nil {
					t.Fatal(err)
				}
			}
			want := NewInodeSet(wantHits)
			for _, parallel := range []int{1, 3} {
				r := FDReader{Want: want, Parallel: parallel}
				count, hits, err := r.Scan(dir)
				if err != nil {
					t.Fatal(err)
				}
				if count != n {
					t.Errorf("parallel %d: count = %d, want %d", parallel, count, n)
				}
				slices.Sort(hits)
				if !slices.Equal(hits, wantHits) {
					t.Errorf("parallel %d: %d hits, want %d (first %v, want %v)", parallel, len(hits), len(wantHits), hits[:min(3, len(hits))], wantHits[:min(3, len(wantHits))])
				}
			}
		})
	}
}

func TestFDReaderMissingDir(t *testing.T) {
	r := FDReader{}
	if _, _, err := r.Scan(filepath.Join(t.TempDir(), "gone")); !os.IsNotExist(err) {
		t.Errorf("scan of a missing directory: err = %v, want not-exist", err)
	}
}

// TestFDReaderProbe reads this process's own /proc/self/fd, laid out
// dense, with a few holes, and sparse, and checks the count, the sockets
// and Below against os.ReadDir and os.Readlink; it also checks which way
// the reader went: the probe alone, or the probe then getdents.
func TestFDReaderProbe(t *testing.T) {
	dir := "/proc/self/fd"
	d, err := os.Open(dir)
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if procFDCount(int(d.Fd())) == 0 {
		d.Close()
		t.Skip("stat on /proc/PID/fd gives no descriptor count before Linux 6.2: only getdents is used")
	}
	d.Close()
	for _, tc := range []struct {
		name     string
		sockets  int // socketpairs opened (two descriptors each)
		closeMod int // close every closeMod-th of them (0: none)
		high     int // also dup one to this number (0: none)
		parallel int
		probeAll bool // the probe finds every descriptor without getdents
	}{
		{"dense", 300, 0, 0, 1, true},
		{"dense big parallel", 2600, 0, 0, 2, true},
		{"few holes", 600, 97, 0, 1, true},
		{"few holes parallel", 2600, 113, 0, 3, true},
		{"sparse", 10, 0, 6000, 1, false},
		{"sparse big parallel", 2600, 2, 9000, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opened []int
			defer func() {
				for _, fd := range opened {
					unix.Close(fd)
				}
			}()
			for i := 0; i < tc.sockets; i++ {
				fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					t.Fatal(err)
				}
				opened = append(opened, fds[0], fds[1])
			}
			if tc.high > 0 {
				if err := unix.Dup3(opened[0], tc.high, unix.O_CLOEXEC); err != nil {
					t.Fatal(err)
				}
				opened = append(opened, tc.high)
			}
			if tc.closeMod > 0 {
				kept := opened[:0]
				for i, fd := range opened {
					if i%tc.closeMod == 1 && fd != tc.high {
						unix.Close(fd)
						continue
					}
					kept = append(kept, fd)
				}
				opened = kept
			}
			// A placeholder holds the lowest free number while dir is
			// listed, and is closed just before Scan, whose own directory
			// descriptor takes that number.
			placeholder, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			wantCount, sockets, wantBelow := listFDs(t, dir)
			// Look for every other socket only; one held in two
			// descriptors is a hit for each.
			var chosen, wanted []uint32
			for i, ino := range slices.Compact(slices.Sorted(slices.Values(sockets))) {
				if i%2 == 0 {
					chosen = append(chosen, ino)
				}
			}
			for _, ino := range sockets {
				if _, ok := slices.BinarySearch(chosen, ino); ok {
					wanted = append(wanted, ino)
				}
			}
			r := FDReader{Want: NewInodeSet(chosen), Parallel: tc.parallel}
			unix.Close(placeholder)
			count, hits, err := r.Scan(dir)
			if err != nil {
				t.Fatal(err)
			}
			if count != wantCount {
				t.Errorf("count = %d, want %d", count, wantCount)
			}
			hits = slices.Sorted(slices.Values(hits))
			slices.Sort(wanted)
			if !slices.Equal(hits, wanted) {
				t.Errorf("%d hits, want %d", len(hits), len(wanted))
			}
			if got := r.Below(1000); got != wantBelow {
				t.Errorf("Below(1000) = %d, want %d", got, wantBelow)
			}
			if probeAll := len(r.names) == 0 && r.dents == nil; probeAll != tc.probeAll {
				t.Errorf("read by the probe alone = %v, want %v", probeAll, tc.probeAll)
			}
		})
	}
}

// listFDs lists dir the plain way: the descriptors, the inode of each
// socket descriptor, and how many are numbered below 1000.
func listFDs(t *testing.T, dir string) (int, []uint32, int) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var sockets []uint32
	below := 0
	n := 0
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // the ReadDir's own descriptor, closed by now
		}
		n++
		if fd, _ := strconv.Atoi(e.Name()); fd < 1000 {
			below++
		}
		if ino, ok := socketInode([]byte(target)); ok {
			sockets = append(sockets, ino)
		}
	}
	return n, sockets, below
}
