package inspect

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestOwnerWalkBeforeWantIsKnown lets a walk read every process before it
// is told which inodes are wanted (as when the dump is slower than the
// walk), and checks it finds what a walk told at once finds.
func TestOwnerWalkBeforeWantIsKnown(t *testing.T) {
	root, want := procFixture(t, 3, 300)
	direct, err := ScanOwners(root, want, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(direct.Owners) != want.Len() {
		t.Fatalf("direct walk found %d owned inodes, want %d", len(direct.Owners), want.Len())
	}
	w := StartOwnerWalk(root, false)
	w.wg.Wait() // every process read with nothing wanted yet
	early := 0
	for _, ow := range w.workers {
		early += len(ow.early)
	}
	if early != 3 {
		t.Fatalf("%d processes kept for later filtering, want 3", early)
	}
	late, err := w.Finish(want)
	if err != nil {
		t.Fatal(err)
	}
	opt := cmp.AllowUnexported(OwnerScan{})
	if diff := cmp.Diff(direct, late, opt, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("walk finished late differs (-at once +late):\n%s", diff)
	}
	// A listener held by nobody is not owned; nothing but wanted inodes is.
	for ino := range late.Owners {
		if !want.Has(ino) {
			t.Errorf("inode %d reported but not wanted", ino)
		}
	}
}
