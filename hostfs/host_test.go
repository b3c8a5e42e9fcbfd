package hostfs

import (
	"os"
	"path/filepath"
	"testing"
)

func writeFile(t *testing.T, root, name, text string) {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The host readers advise needs: softnet drops, memory, a process's unit.
func TestHostReaders(t *testing.T) {
	root := t.TempDir()
	// Two CPUs; column 2 (dropped) is hex: 0x2 + 0x10.
	writeFile(t, root, "net/softnet_stat",
		"00000a4b 00000002 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000\n"+
			"0000ffff 00000010 00000003 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001\n")
	writeFile(t, root, "meminfo", "MemTotal:       16384000 kB\nMemFree:         1000 kB\n")
	writeFile(t, root, "4242/cgroup", "0::/system.slice/haproxy.service\n")

	h := Roots{Proc: root}
	if got, err := h.SoftnetDropped(); err != nil || got != 18 {
		t.Errorf("SoftnetDropped = %d, %v; want 18", got, err)
	}
	if got, err := h.MemTotal(); err != nil || got != 16384000*1024 {
		t.Errorf("MemTotal = %d, %v; want %d", got, err, 16384000*1024)
	}
	if got, err := h.Unit(4242); err != nil || got != "haproxy.service" {
		t.Errorf("Unit = %q, %v; want haproxy.service", got, err)
	}
	if _, err := h.Unit(1); !os.IsNotExist(err) {
		t.Errorf("Unit of a missing pid: %v, want not-exist", err)
	}
}
