package sysctl

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A --force-new record carries the one it superseded: a rollback takes each
// key back to its value before the earliest unresolved change, restores the
// keys only the older change touched, and puts the persisted file back as it
// was before both.
func TestRollbackCarriesSuperseded(t *testing.T) {
	first := "# Written by backlogctl (tune --persist).\nnet.core.somaxconn = 5000\n"
	killed := State{Status: StatusApplying, SysRoot: "/proc/sys", Netns: 7,
		Steps: []Step{
			{Key: "net.core.somaxconn", Previous: "4096", Value: "5000"},
			{Key: "net.ipv4.tcp_max_syn_backlog", Previous: "512", Value: "6000"},
		},
		Persist: &PersistRecord{File: "/etc/sysctl.d/90-backlogctl.conf", Written: Digest([]byte(first))},
	}
	next := State{Status: StatusApplied, SysRoot: "/proc/sys", Netns: 7,
		Steps: []Step{
			{Key: "net.core.somaxconn", Previous: "5000", Value: "7000"},
			{Key: "net.ipv4.tcp_synack_retries", Previous: "5", Value: "9"},
		},
		Persist:    &PersistRecord{File: "/etc/sysctl.d/90-backlogctl.conf", Previous: &first, Written: "b"},
		Superseded: &killed,
	}
	want := []Step{
		{Key: "net.ipv4.tcp_max_syn_backlog", Previous: "512", Value: "6000"},
		{Key: "net.core.somaxconn", Previous: "4096", Value: "7000"},
		{Key: "net.ipv4.tcp_synack_retries", Previous: "5", Value: "9"},
	}
	if diff := cmp.Diff(want, next.RollbackSteps()); diff != "" {
		t.Errorf("RollbackSteps (-want +got):\n%s", diff)
	}
	wantFiles := []PersistRecord{{File: "/etc/sysctl.d/90-backlogctl.conf", Previous: nil, Written: "b"}}
	if diff := cmp.Diff(wantFiles, next.RollbackPersists()); diff != "" {
		t.Errorf("RollbackPersists (-want +got):\n%s", diff)
	}

	// A new change that failed and undid its own writes still owes the
	// superseded one's values: unresolved, and its rollback restores them.
	failed := next
	failed.Status = StatusFailed
	if !failed.Unresolved() {
		t.Error("a failed record over an unresolved one is resolved")
	}
	if diff := cmp.Diff(killed.Steps, failed.RollbackSteps()); diff != "" {
		t.Errorf("failed RollbackSteps (-want +got):\n%s", diff)
	}
	if got := failed.RollbackPersists(); len(got) != 1 || got[0].Previous != nil || got[0].Written != killed.Persist.Written {
		t.Errorf("failed RollbackPersists = %+v, want the killed run's file", got)
	}

	// Another namespace's record is kept, not carried.
	other := next
	sup := killed
	sup.Netns = 8
	other.Superseded = &sup
	if diff := cmp.Diff(next.Steps, other.RollbackSteps()); diff != "" {
		t.Errorf("another namespace's record was carried (-want +got):\n%s", diff)
	}
	rolled := next
	rolled.Status = StatusRolledBack
	if len(rolled.RollbackSteps()) != 0 || len(rolled.RollbackPersists()) != 0 || rolled.Unresolved() {
		t.Error("a rolled-back record still owes something")
	}
}

func TestRecordCheck(t *testing.T) {
	ours := persistHeader + "\n\n# why\nnet.core.somaxconn = 8192\n"
	theirs := "kernel.core_pattern = |/tmp/x\n"
	ourOutside := persistHeader + "\nkernel.core_pattern = |/tmp/x\n"
	good := State{Version: 1, Status: StatusApplied, SysRoot: "/proc/sys", Command: "tune --apply",
		Steps:   []Step{{Key: "net.core.somaxconn", Previous: "4096", Value: "8192"}},
		Persist: &PersistRecord{File: "/etc/sysctl.d/90-backlogctl.conf", Previous: &ours, Written: Digest([]byte(ours))}}
	rules := RecordRules{PersistDirs: []string{"/etc/sysctl.d"}}
	if err := good.Check(rules); err != nil {
		t.Fatalf("a record backlogctl writes: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*State)
		want string
	}{
		{"unknown key", func(s *State) { s.Steps[0].Key = "kernel.core_pattern" }, "needs --force"},
		{"path key", func(s *State) { s.Steps[0].Key = "../../etc/shadow" }, "invalid sysctl key"},
		{"alias key", func(s *State) { s.Steps[0].Key = "somaxconn" }, "not written as backlogctl writes it"},
		{"out of range", func(s *State) { s.Steps[0].Previous = "-1" }, "out of range"},
		{"octal", func(s *State) { s.Steps[0].Value = "010" }, "octal"},
		{"owed unknown", func(s *State) { s.Owed = []string{"net.ipv4.tcp_syncookies"} }, "not one it changed"},
		{"status", func(s *State) { s.Status = "pwned" }, "unknown status"},
		{"version", func(s *State) { s.Version = 2 }, "version 2"},
		{"persist outside", func(s *State) { s.Persist.File = "/etc/shadow.conf" }, "outside the sysctl.d directories"},
		{"persist relative", func(s *State) { s.Persist.File = "/etc/sysctl.d/../shadow.conf" }, "not an absolute path"},
		{"persist not conf", func(s *State) { s.Persist.File = "/etc/sysctl.d/passwd" }, "not an absolute path to a .conf"},
		{"previous not ours", func(s *State) { s.Persist.Previous = &theirs }, "not a file backlogctl wrote"},
		{"previous key outside", func(s *State) { s.Persist.Previous = &ourOutside }, "needs --force"},
		{"digest", func(s *State) { s.Persist.Written = "x" }, "not a SHA-256"},
		{"superseded", func(s *State) {
			sup := *s
			sup.Steps = []Step{{Key: "vm.x", Previous: "1", Value: "2"}}
			s.Superseded = &sup
		}, "needs --force"},
	} {
		s := good
		s.Steps = append([]Step(nil), good.Steps...)
		p := *good.Persist
		s.Persist = &p
		tc.edit(&s)
		err := s.Check(rules)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Check = %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
	forced := good
	forced.Steps = []Step{{Key: "net.ipv4.ip_local_port_range", Previous: "32768\t60999", Value: "10000 65000"}}
	if err := forced.Check(rules); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("a --force key without AllowUnknown: %v", err)
	}
	rules.AllowUnknown = true
	if err := forced.Check(rules); err != nil {
		t.Errorf("a --force key with AllowUnknown: %v", err)
	}
}

// RestorePersist puts back only a file that still holds what was written.
func TestRestorePersist(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "90-backlogctl.conf")
	written := []byte(persistHeader + "\nnet.core.somaxconn = 8192\n")
	prev := persistHeader + "\nnet.core.somaxconn = 5000\n"
	rec := PersistRecord{File: file, Previous: &prev, Written: Digest(written)}
	write := func(b []byte) {
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func() string { b, _ := os.ReadFile(file); return string(b) }

	write(written)
	if restored, left, err := RestorePersist(rec); err != nil || !restored || left != "" || read() != prev {
		t.Errorf("untouched: %v %q %v, file %q; want it put back", restored, left, err, read())
	}
	if restored, left, err := RestorePersist(rec); err != nil || restored || left != "" {
		t.Errorf("already as before: %v %q %v; want nothing done", restored, left, err)
	}
	edited := string(written) + "vm.swappiness = 10\n"
	write([]byte(edited))
	if restored, left, err := RestorePersist(rec); err != nil || restored || !strings.Contains(left, "was changed after backlogctl wrote it") || read() != edited {
		t.Errorf("edited: %v %q %v, file %q; want it left, saying so", restored, left, err, read())
	}
	os.Remove(file)
	if restored, left, err := RestorePersist(rec); err != nil || restored || !strings.Contains(left, "was removed") {
		t.Errorf("removed: %v %q %v; want it left, saying so", restored, left, err)
	}
	write(written)
	rec.Previous = nil
	if restored, _, err := RestorePersist(rec); err != nil || !restored {
		t.Errorf("created by the apply: %v %v; want removed", restored, err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("the file the apply created is still there: %v", err)
	}
}

func TestCheckStateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := CheckStateDir(dir); err != nil {
		t.Fatalf("a missing dir under a private one: %v", err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := CheckStateDir(dir); err != nil {
		t.Fatalf("the caller's own dir: %v", err)
	}
	file := filepath.Join(dir, StateFile)
	if err := os.WriteFile(file, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		path string
		mode os.FileMode
		want string
	}{
		{"group-writable dir", dir, 0o775, "group or others may write it"},
		{"world-writable record", file, 0o666, "group or others may write it"},
		{"sticky world-writable dir", dir, 0o777 | os.ModeSticky, ""},
	} {
		if err := os.Chmod(tc.path, tc.mode); err != nil {
			t.Fatal(err)
		}
		err := CheckStateDir(dir)
		if tc.want == "" && err != nil || tc.want != "" && (!errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
		os.Chmod(tc.path, 0o755)
		os.Chmod(file, 0o644)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if err := CheckStateDir(link); !errors.Is(err, ErrUntrusted) {
		t.Errorf("a symlinked state dir: %v", err)
	}
}
