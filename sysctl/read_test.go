package sysctl

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readFS is the testdata/readfs tree: a /proc/sys stand-in as a child
// network namespace shows it (no net.core.netdev_max_backlog).
func readFS() FS { return NewFS(filepath.Join("testdata", "readfs")) }

func TestFSReadFixture(t *testing.T) {
	f := readFS()
	if v, err := f.ReadInt("net.core.somaxconn"); err != nil || v != 4096 {
		t.Errorf("ReadInt(somaxconn) = %d, %v; want 4096", v, err)
	}
	if v, err := f.ReadInt("net/ipv4/tcp_syncookies"); err != nil || v != 1 {
		t.Errorf("ReadInt(slash path, padded value) = %d, %v; want 1", v, err)
	}
	if v, err := f.ReadInts("fs.file-nr"); err != nil || !cmp.Equal(v, []int64{1184, 0, 2466165}) {
		t.Errorf("ReadInts(fs.file-nr) = %v, %v", v, err)
	}
	if _, err := f.ReadInt("fs.file-nr"); err == nil || !strings.Contains(err.Error(), `reading fs.file-nr: value "1184\t0\t2466165" is not an integer`) {
		t.Errorf("ReadInt of a tuple: err = %v", err)
	}
	if _, err := f.ReadInt("net.ipv4.tcp_max_syn_backlog"); err == nil || !strings.Contains(err.Error(), `net.ipv4.tcp_max_syn_backlog: value "abc" is not an integer`) {
		t.Errorf("ReadInt of garbage: err = %v", err)
	}
	for _, name := range []string{"net.core.netdev_max_backlog", "net.ipv6.nothing.here"} {
		if _, err := f.ReadInt(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadInt(%s) err = %v, want errors.Is(err, fs.ErrNotExist)", name, err)
		}
	}
}

// Names that could reach outside the root are refused before any file is
// opened; symlinks are followed only while they stay inside it.
func TestFSReadRefusesEscapes(t *testing.T) {
	for _, name := range []string{"..", "../readfs/net/core/somaxconn", "net/../../x", "/etc/passwd", "net.core..somaxconn", "net/core/", "a\x00b"} {
		if v, err := readFS().ReadString(name); !errors.Is(err, ErrBadKey) {
			t.Errorf("ReadString(%q) = %q, %v; want ErrBadKey", name, v, err)
		}
	}

	root := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret")
	for path, body := range map[string]string{"net/core/somaxconn": "128\n", secret: "42\n"} {
		if !filepath.IsAbs(path) {
			path = filepath.Join(root, path)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"net/core/abs_escape": secret,
		"net/core/rel_escape": "../../../" + filepath.Base(filepath.Dir(secret)) + "/secret",
		"net/core/inside":     "somaxconn",
		"net/core/dangling":   "nothing",
	}
	for link, target := range links {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	// The root itself may be a symlink (e.g. a mounted fixture).
	linkedRoot := filepath.Join(t.TempDir(), "sys")
	if err := os.Symlink(root, linkedRoot); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{root, linkedRoot} {
		f := NewFS(r)
		if v, err := f.ReadInt("net.core.inside"); err != nil || v != 128 {
			t.Errorf("%s: symlink inside the root: %d, %v; want 128", r, v, err)
		}
		for _, name := range []string{"net.core.abs_escape", "net.core.rel_escape"} {
			if v, err := f.ReadString(name); !errors.Is(err, ErrBadKey) {
				t.Errorf("%s: ReadString(%s) = %q, %v; want ErrBadKey", r, name, v, err)
			}
			if err := f.Write(name, "7"); !errors.Is(err, ErrBadKey) {
				t.Errorf("%s: Write(%s) = %v; want ErrBadKey", r, name, err)
			}
		}
		if _, err := f.ReadString("net.core.dangling"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: dangling symlink: err = %v, want fs.ErrNotExist", r, err)
		}
	}
	if b, _ := os.ReadFile(secret); string(b) != "42\n" {
		t.Errorf("the file outside the root changed to %q", b)
	}
}

func TestFSValuesFixture(t *testing.T) {
	vals, errs := readFS().Values()
	want := map[string]int64{
		"net.core.somaxconn":             4096,
		"net.ipv4.tcp_syncookies":        1,
		"net.ipv4.tcp_abort_on_overflow": 0,
		"fs.file-max":                    2466165,
		"fs.nr_open":                     1048576,
	}
	if diff := cmp.Diff(want, vals); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	// Absent keys (netdev_max_backlog, synack_retries) are neither values nor errors.
	if len(errs) != 1 || errs["net.ipv4.tcp_max_syn_backlog"] == nil {
		t.Errorf("errors = %v, want only net.ipv4.tcp_max_syn_backlog", errs)
	}
}
