package sysctl

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/sysctl/sysctltest"
)

func readAll(t *testing.T, fsys FS, keys ...string) map[string]string {
	return sysctltest.Values(t, fsys.Root(), keys...)
}

func TestTxnCommit(t *testing.T) {
	fsys := NewFS(baseTree(t))
	txn, err := fsys.Prepare([]Setting{{"net.core.netdev_max_backlog", "16384"}, {"fs.nr_open", "2097152"}})
	if err != nil {
		t.Fatal(err)
	}
	wantSteps := []Step{
		{Key: "net.core.netdev_max_backlog", Previous: "1000", Value: "16384"},
		{Key: "fs.nr_open", Previous: "1048576", Value: "2097152"},
	}
	if diff := cmp.Diff(wantSteps, txn.Steps); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if err := txn.Commit(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"net.core.netdev_max_backlog": "16384", "fs.nr_open": "2097152"}
	if diff := cmp.Diff(want, readAll(t, fsys, "net.core.netdev_max_backlog", "fs.nr_open")); diff != "" {
		t.Errorf("after commit (-want +got):\n%s", diff)
	}
}

// TestTxnCommitRestoresOnFailure: the third write fails after two succeeded;
// both are put back and the error names the failing key.
func TestTxnCommitRestoresOnFailure(t *testing.T) {
	root := baseTree(t)
	fsys := NewFS(root)
	keys := []string{"fs.file-max", "net.core.netdev_max_backlog", "fs.nr_open"}
	before := readAll(t, fsys, keys...)
	txn, err := fsys.Prepare([]Setting{{keys[0], "2097152"}, {keys[1], "16384"}, {keys[2], "2097152"}})
	if err != nil {
		t.Fatal(err)
	}
	// Between Prepare and Commit, fs.nr_open stops being writable.
	nrOpen := filepath.Join(root, "fs/nr_open")
	if err := os.Remove(nrOpen); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(nrOpen, 0o755); err != nil {
		t.Fatal(err)
	}
	err = txn.Commit()
	var ae *ApplyError
	if !errors.As(err, &ae) {
		t.Fatalf("Commit = %v, want *ApplyError", err)
	}
	if ae.Key != "fs.nr_open" || len(ae.NotRestored) != 0 {
		t.Errorf("ApplyError = %+v, want key fs.nr_open and everything restored", ae)
	}
	if diff := cmp.Diff([]string{"net.core.netdev_max_backlog", "fs.file-max"}, ae.Restored); diff != "" {
		t.Errorf("restored (-want +got):\n%s", diff)
	}
	delete(before, "fs.nr_open") // now a directory: not a tunable any more
	if diff := cmp.Diff(before, readAll(t, fsys, keys[:2]...)); diff != "" {
		t.Errorf("values after the failed commit (-before +after):\n%s", diff)
	}
}

func TestPrepareRefusesBeforeWriting(t *testing.T) {
	fsys := NewFS(baseTree(t))
	_, err := fsys.Prepare([]Setting{{"net.core.somaxconn", "8192"}, {"net.ipv4.no_such_key", "1"}})
	if err == nil {
		t.Fatal("Prepare with an absent key succeeded")
	}
	if _, err := fsys.Prepare([]Setting{{"net.core.somaxconn", "1"}, {"net.core.somaxconn", "2"}}); !errors.Is(err, ErrBadKey) {
		t.Errorf("key set twice: got %v, want ErrBadKey", err)
	}
	if v, _ := fsys.ReadString("net.core.somaxconn"); v != "4096" {
		t.Errorf("somaxconn = %s after refused Prepare, want 4096", v)
	}
}
