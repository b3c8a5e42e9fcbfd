package sysctl

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzKeyPath: whatever KeyPath accepts stays below the root when joined.
func FuzzKeyPath(f *testing.F) {
	for _, s := range []string{"net.core.somaxconn", "net/core/somaxconn", "../etc/passwd", "/etc/passwd", "net..core", "a/./b", "fs.file-max", "x\x00y", "net.ipv4.conf.eth0/1.rp_filter"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		rel, err := KeyPath(name)
		if err != nil {
			return
		}
		joined := filepath.Join("/proc/sys", rel)
		if !strings.HasPrefix(joined, "/proc/sys/") {
			t.Fatalf("KeyPath(%q) = %q escapes the root (%s)", name, rel, joined)
		}
		if filepath.Clean(joined) != joined {
			t.Fatalf("KeyPath(%q) = %q is not clean", name, rel)
		}
	})
}
