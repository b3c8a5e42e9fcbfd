package sysctl

import (
	"os"
	"path/filepath"
	"testing"
)

// fixtureTree writes files (relative path -> content) under a temporary
// directory and returns it: a procfs-style stand-in for /proc/sys.
func fixtureTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
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

// baseTree holds every registry key at a typical value.
func baseTree(t *testing.T) string {
	return fixtureTree(t, map[string]string{
		"net/core/somaxconn":             "4096\n",
		"net/ipv4/tcp_max_syn_backlog":   "1024\n",
		"net/ipv4/tcp_syncookies":        "1\n",
		"net/ipv4/tcp_abort_on_overflow": "0\n",
		"net/ipv4/tcp_synack_retries":    "5\n",
		"net/core/netdev_max_backlog":    "1000\n",
		"fs/file-max":                    "9223372036854775807\n",
		"fs/nr_open":                     "1048576\n",
	})
}
