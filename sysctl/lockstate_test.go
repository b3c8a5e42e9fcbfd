package sysctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
