package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/trace"
)

// trace stays under 32 MiB of RSS: the peak the kernel recorded for the
// process (getrusage), and what every report says. The built binary, not
// the race-instrumented test binary, is what is measured.
func TestTraceMemory(t *testing.T) {
	nstest.RequireRoot(t)
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		t.Skip("this kernel has no BTF (/sys/kernel/btf/vmlinux): trace cannot run")
	}
	cmd := exec.Command(bin, "trace", "-o", "json", "--duration", "2s", "--interval", "500ms")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("trace: %v\n%s", err, errOut.String())
	}
	const limit = 32 << 20
	if peak := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024; peak > limit {
		t.Errorf("peak RSS %d bytes, want at most %d", peak, limit)
	}
	lines := bufio.NewScanner(&out)
	lines.Buffer(nil, 1<<20)
	n := 0
	for lines.Scan() {
		var r trace.Report
		if err := json.Unmarshal(lines.Bytes(), &r); err != nil {
			t.Fatalf("%q: %v", lines.Text(), err)
		}
		if r.Tracer.RSSBytes == 0 || r.Tracer.RSSBytes > limit || r.Tracer.MapMemoryBytes == 0 {
			t.Errorf("tracer %+v: want 0 < rss_bytes <= %d and map memory reported", r.Tracer, limit)
		}
		n++
	}
	if n < 2 {
		t.Errorf("%d reports in 2s at 500ms intervals", n)
	}
}

// Without CAP_BPF/CAP_PERFMON trace says so in one line, suggests watch and
// exits 3.
func TestTraceWithoutPrivilege(t *testing.T) {
	nstest.RequireRoot(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatalf("setpriv (util-linux) is needed: %v", err)
	}
	r := run(t, asNobody("trace", "--duration", "1s")...)
	if r.code != 3 {
		t.Fatalf("trace as nobody: exit %d, want 3; stderr %q", r.code, r.stderr)
	}
	if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "backlogctl watch") || !strings.Contains(lines[0], "CAP_BPF") {
		t.Errorf("stderr %q: want one line naming CAP_BPF and suggesting backlogctl watch", r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
}
