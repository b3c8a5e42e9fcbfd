package rlimit

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/backlogctl/backlogctl/model"
)

func TestUnitName(t *testing.T) {
	good := map[string]string{
		"nginx":            "nginx.service",
		"nginx.service":    "nginx.service",
		"getty@tty1":       "getty@tty1.service",
		"foo@.service":     "foo@.service",
		"my-app_v2.worker": "my-app_v2.worker.service",
	}
	for in, want := range good {
		if got, err := UnitName(in); err != nil || got != want {
			t.Errorf("UnitName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":                "unit name is empty",
		"../etc/passwd":   `unit name "../etc/passwd" contains '/': give a name like nginx.service, not a path`,
		"a/b.service":     `unit name "a/b.service" contains '/': give a name like nginx.service, not a path`,
		"..":              `unit name ".." contains '..'`,
		"x..service":      `unit name "x..service" contains '..'`,
		".service":        `unit name ".service" has no name before .service`,
		"nginx.socket":    `unit "nginx.socket" is not a service: LimitNOFILE= goes in a .service unit`,
		"nginx service":   `unit name "nginx service" contains ' ': systemd allows letters, digits and :-_.\@`,
		"nginx\n.service": `unit name "nginx\n.service" contains '\n': systemd allows letters, digits and :-_.\@`,
		".hidden":         `unit name ".hidden" starts with '.'`,
		"system.slice":    `unit "system.slice" is not a service: LimitNOFILE= goes in a .service unit`,
		"backup.timer":    `unit "backup.timer" is not a service: LimitNOFILE= goes in a .service unit`,
		"a\x00b.service":  `unit name "a\x00b.service" contains '\x00': systemd allows letters, digits and :-_.\@`,
		"ünïcode.service": `unit name "ünïcode.service" contains 'ü': systemd allows letters, digits and :-_.\@`,
		"semi;colon":      `unit name "semi;colon" contains ';': systemd allows letters, digits and :-_.\@`,
		"dollar$.service": `unit name "dollar$.service" contains '$': systemd allows letters, digits and :-_.\@`,
		"star*":           `unit name "star*" contains '*': systemd allows letters, digits and :-_.\@`,
		"tab\tname":       `unit name "tab\tname" contains '\t': systemd allows letters, digits and :-_.\@`,
	}
	for in, want := range bad {
		if got, err := UnitName(in); err == nil || err.Error() != want {
			t.Errorf("UnitName(%q) = %q, %v; want error %q", in, got, err, want)
		}
	}
}

func TestDropIn(t *testing.T) {
	want := "[Service]\nLimitNOFILE=65536:524288\n"
	if got := DropIn(model.Nofile{Soft: 65536, Hard: 524288}); got != want {
		t.Errorf("DropIn = %q, want %q", got, want)
	}
}

func TestWriteDropIn(t *testing.T) {
	dir := t.TempDir()
	p, err := WriteDropIn(dir, "nginx.service", model.Nofile{Soft: 4096, Hard: 8192})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "nginx.service.d", DropInName); p != want {
		t.Errorf("path = %s, want %s", p, want)
	}
	// A second write replaces the first whole.
	if _, err := WriteDropIn(dir, "nginx.service", model.Nofile{Soft: 65536, Hard: 65536}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "[Service]\nLimitNOFILE=65536:65536\n"; got != want {
		t.Errorf("drop-in = %q, want %q", got, want)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("drop-in mode = %v, %v; want 0644", fi.Mode().Perm(), err)
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Errorf("UNIT.d holds %d entries, want only the drop-in (no temporary files left)", len(entries))
	}
}

func TestWriteDropInFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	// A file where the drop-in should go makes the rename fail.
	if err := os.MkdirAll(filepath.Join(dir, "web.service.d", DropInName), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "web.service.d", DropInName, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteDropIn(dir, "web.service", model.Nofile{Soft: 1, Hard: 2}); err == nil {
		t.Fatal("WriteDropIn over a non-empty directory succeeded")
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "web.service.d"))
	if len(entries) != 1 || entries[0].Name() != DropInName {
		t.Errorf("failed write left %v in web.service.d, want only what was there before", entries)
	}
}

// Under umask 077 the drop-in is still 0644 and a UNIT.d it creates 0755:
// systemd and operators must be able to read them.
func TestWriteDropInModesIgnoreUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	p, err := WriteDropIn(dir, "web.service", model.Nofile{Soft: 1024, Hard: 1024})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{p: 0o644, filepath.Dir(p): 0o755} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %v", path, fi.Mode().Perm(), err, want)
		}
	}
}

// A UNIT.d planted as a symlink to another directory is refused; the
// directory it points to is left empty.
func TestWriteDropInRefusesSymlinkedUnitDir(t *testing.T) {
	dir, victim := t.TempDir(), t.TempDir()
	if err := os.Symlink(victim, filepath.Join(dir, "web.service.d")); err != nil {
		t.Fatal(err)
	}
	_, err := WriteDropIn(dir, "web.service", model.Nofile{Soft: 1024, Hard: 1024})
	if err == nil || !strings.Contains(err.Error(), "is a symlink") {
		t.Fatalf("WriteDropIn through a symlinked UNIT.d = %v; want it refused", err)
	}
	if entries, _ := os.ReadDir(victim); len(entries) != 0 {
		t.Errorf("the symlink's target was written: %v", entries)
	}
}

// Concurrent writers of one unit's drop-in never remove each other's
// temporary file (each write first cleans an interrupted one's): every
// write succeeds, and the file is one of theirs, whole.
func TestWriteDropInConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	const writers, writes = 4, 300
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := range writes {
				if _, err := WriteDropIn(dir, "nginx.service", model.Nofile{Soft: uint64(1000 + w), Hard: uint64(2000 + i)}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatalf("a concurrent write failed: %v", err)
		}
	}
	b, err := os.ReadFile(DropInPath(dir, "nginx.service"))
	if err != nil || !strings.HasPrefix(string(b), "[Service]\nLimitNOFILE=") {
		t.Errorf("drop-in = %q, %v", b, err)
	}
}
