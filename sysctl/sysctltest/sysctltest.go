// Package sysctltest builds procfs-style fixture trees for tests: a stand-in
// for /proc/sys that tests may write global keys into, and a /proc with the
// network-namespace link.
package sysctltest

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Base holds every registry key at a typical value, as relative paths.
func Base() map[string]string {
	return map[string]string{
		"net/core/somaxconn":             "4096\n",
		"net/ipv4/tcp_max_syn_backlog":   "1024\n",
		"net/ipv4/tcp_syncookies":        "1\n",
		"net/ipv4/tcp_abort_on_overflow": "0\n",
		"net/ipv4/tcp_synack_retries":    "5\n",
		"net/core/netdev_max_backlog":    "1000\n",
		"fs/file-max":                    "9223372036854775807\n",
		"fs/nr_open":                     "1048576\n",
	}
}

// With returns Base changed by edits; an empty value removes the file (a key
// not visible here).
func With(edits map[string]string) map[string]string {
	m := Base()
	maps.Copy(m, edits)
	for k, v := range m {
		if v == "" {
			delete(m, k)
		}
	}
	return m
}

// Tree writes files (relative path -> content) under a new temporary
// directory, readable by every user, and returns it.
func Tree(t testing.TB, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	// The test's own temp dir above it is 0700: open both, for tests that run
	// the command as another user.
	for _, d := range []string{filepath.Dir(root), root} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for rel, content := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// Proc returns a fixture /proc whose self/ns/net link names netns inode.
func Proc(t testing.TB, inode string) string {
	t.Helper()
	root := Tree(t, nil)
	if err := os.MkdirAll(filepath.Join(root, "self/ns"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("net:["+inode+"]", filepath.Join(root, "self/ns/net")); err != nil {
		t.Fatal(err)
	}
	return root
}

// Read returns every regular file under root (relative path -> content with
// surrounding whitespace trimmed, as the kernel's trailing newline is not part
// of a value), to compare a tree before and after a command.
func Read(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[strings.TrimPrefix(p, root+"/")] = strings.TrimSpace(string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Values reads dotted keys under root (a fixture tree, or /proc/sys inside a
// test namespace), trimmed, failing the test on any error.
func Values(t testing.TB, root string, keys ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, k := range keys {
		b, err := os.ReadFile(filepath.Join(root, strings.ReplaceAll(k, ".", "/")))
		if err != nil {
			t.Fatal(err)
		}
		out[k] = strings.TrimSpace(string(b))
	}
	return out
}
