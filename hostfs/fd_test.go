package hostfs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestFDReaderScan checks the getdents/readlinkat reader on fixture fd
// directories, below and above BigFDDir (where it splits the work), with
// links that are not sockets or not wanted mixed in.
func TestFDReaderScan(t *testing.T) {
	for _, n := range []int{0, 7, BigFDDir + 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			dir := t.TempDir()
			want := map[uint32]struct{}{}
			var wantHits []uint32
			for fd := 0; fd < n; fd++ {
				target := fmt.Sprintf("socket:[%d]", 1000+fd)
				switch fd % 4 {
				case 0:
					want[uint32(1000+fd)] = struct{}{}
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
