package sysctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLockIsExclusive(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	first, err := AcquireLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	// flock locks belong to the open file, so a second open in this process
	// contends exactly like another process would.
	_, err = AcquireLock(dir)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second AcquireLock = %v, want ErrLocked", err)
	}
	if want := fmt.Sprintf("pid %d", os.Getpid()); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the holder (%s)", err, want)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	again, err := AcquireLock(dir)
	if err != nil {
		t.Fatalf("AcquireLock after Release: %v", err)
	}
	again.Release()
}

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadState(dir); !errors.Is(err, ErrNoState) {
		t.Fatalf("LoadState on an empty dir = %v, want ErrNoState", err)
	}
	prev := "old file\n"
	want := State{
		Version: 1, Time: time.Date(2026, 11, 23, 21, 0, 0, 0, time.UTC), Status: StatusApplied,
		SysRoot: "/proc/sys", Netns: 4026531840,
		Steps:   []Step{{Key: "net.core.somaxconn", Previous: "4096", Value: "8192"}},
		Persist: &PersistRecord{File: "/etc/sysctl.d/90-backlogctl.conf", Previous: &prev},
	}
	if err := SaveState(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("state dir holds %d entries, want only %s (no temporary files left)", len(entries), StateFile)
	}
}

func TestNetnsInode(t *testing.T) {
	proc := t.TempDir()
	if err := os.MkdirAll(filepath.Join(proc, "self/ns"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustSymlink(t, "net:[4026532178]", filepath.Join(proc, "self/ns/net"))
	got, err := NetnsInode(proc)
	if err != nil || got != 4026532178 {
		t.Errorf("NetnsInode = %d, %v; want 4026532178", got, err)
	}
	if _, err := NetnsInode(t.TempDir()); err == nil {
		t.Error("NetnsInode without the link succeeded")
	}
}

// Under umask 077 the state dir, record, lock and sysctl.d file are still
// written with the modes RELIABILITY.md gives (dirs 0755, files 0644).
func TestWrittenModesIgnoreUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	root := t.TempDir()
	dir := filepath.Join(root, "var", "lib", "backlogctl")
	lock, err := AcquireLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	if err := SaveState(dir, State{Status: StatusApplied}); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(root, "90-backlogctl.conf")
	if err := WriteFileAtomic(conf, RenderPersist(nil)); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{
		filepath.Join(root, "var"): 0o755, dir: 0o755,
		filepath.Join(dir, StateFile): 0o644, filepath.Join(dir, LockFile): 0o644, conf: 0o644,
	} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %v", path, fi.Mode().Perm(), err, want)
		}
	}
}

// The state file is read with a cap and only if regular: a huge or endless
// file is refused at once.
func TestLoadStateRefusesHugeOrSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, StateFile), make([]byte, MaxStateSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(dir); err == nil || !strings.Contains(err.Error(), "file too large") {
		t.Errorf("LoadState of an oversized record = %v; want 'file too large'", err)
	}
	dir = t.TempDir()
	if err := os.Symlink("/dev/zero", filepath.Join(dir, StateFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("LoadState of /dev/zero = %v; want 'not a regular file'", err)
	}
}
