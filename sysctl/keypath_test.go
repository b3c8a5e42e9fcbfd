package sysctl

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestKeyPath(t *testing.T) {
	tests := []struct {
		name, want string
		bad        bool
	}{
		{name: "net.core.somaxconn", want: "net/core/somaxconn"},
		{name: "net/core/somaxconn", want: "net/core/somaxconn"},
		{name: "net/ipv4/conf/eth0.100/rp_filter", want: "net/ipv4/conf/eth0.100/rp_filter"},
		{name: "", bad: true},
		{name: "../etc/passwd", bad: true},
		{name: "net/../../etc/passwd", bad: true},
		{name: "net.core..somaxconn", bad: true},
		{name: ".net.core.somaxconn", bad: true},
		{name: "/proc/sys/net/core/somaxconn", bad: true},
		{name: "net/core/", bad: true},
		{name: "net.core.somaxconn=1", bad: true},
		{name: "net.core. somaxconn", bad: true},
		{name: "net.core.somaxconn\n", bad: true},
		{name: "net.core.\x00somaxconn", bad: true},
	}
	for _, tt := range tests {
		got, err := KeyPath(tt.name)
		if tt.bad {
			if !errors.Is(err, ErrBadKey) {
				t.Errorf("KeyPath(%q) = %q, %v; want ErrBadKey", tt.name, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("KeyPath(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

// TestFSPathStaysInsideRoot: symlinks may point around inside the root but
// never out of it, and directories are not tunables.
func TestFSPathStaysInsideRoot(t *testing.T) {
	root := baseTree(t)
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("42\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustSymlink(t, outside, filepath.Join(root, "net/core/escape"))
	up, err := filepath.Rel(filepath.Join(root, "net/core"), filepath.Dir(outside))
	if err != nil {
		t.Fatal(err)
	}
	mustSymlink(t, up, filepath.Join(root, "net/core/updir")) // relative, through ".."
	mustSymlink(t, "somaxconn", filepath.Join(root, "net/core/inside"))
	fsys := NewFS(root)

	if v, err := fsys.ReadString("net.core.inside"); err != nil || v != "4096" {
		t.Errorf("symlink inside the root: got %q, %v; want 4096", v, err)
	}
	for _, name := range []string{"net.core.escape", "net/core/updir/secret", "net.core", "net"} {
		if v, err := fsys.ReadString(name); !errors.Is(err, ErrBadKey) {
			t.Errorf("ReadString(%q) = %q, %v; want ErrBadKey", name, v, err)
		}
		if err := fsys.Write(name, "1"); !errors.Is(err, ErrBadKey) {
			t.Errorf("Write(%q) = %v; want ErrBadKey", name, err)
		}
	}
	if b, _ := os.ReadFile(outside); string(b) != "42\n" {
		t.Errorf("file outside the root changed to %q", b)
	}
	if _, err := fsys.ReadString("net.core.nosuchkey"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("absent key: got %v, want fs.ErrNotExist", err)
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
