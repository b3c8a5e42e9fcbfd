package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
)

// trace stays under 32 MiB of RSS: its peak (VmHWM, which covers loading
// the programs) read while it runs, and what every report says. The built
// binary, not the race-instrumented test binary, is measured; getrusage's
// maxrss would not do, since it counts the forking parent's RSS before exec.
func TestTraceMemory(t *testing.T) {
	nstest.RequireRoot(t)
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		t.Skip("this kernel has no BTF (/sys/kernel/btf/vmlinux): trace cannot run")
	}
	cmd := exec.Command(bin, "trace", "-o", "json", "--interval", "300ms")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	const limit = 32 << 20
	lines := bufio.NewScanner(out)
	lines.Buffer(nil, 1<<20)
	for n := 0; n < 3; n++ {
		if !lines.Scan() {
			t.Fatalf("trace ended early: %v\n%s", lines.Err(), errOut.String())
		}
		var r model.TraceReport
		if err := json.Unmarshal(lines.Bytes(), &r); err != nil {
			t.Fatalf("%q: %v", lines.Text(), err)
		}
		if r.Tracer.RSSBytes == 0 || r.Tracer.RSSBytes > limit || r.Tracer.MapMemoryBytes == 0 {
			t.Errorf("tracer %+v: want 0 < rss_bytes <= %d and map memory reported", r.Tracer, limit)
		}
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	var peakKB int64 = -1
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			peakKB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	if peakKB <= 0 || peakKB*1024 > limit {
		t.Errorf("peak RSS (VmHWM) %d kB, want at most %d kB", peakKB, limit/1024)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() {
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("trace after SIGTERM: %v\n%s", err, errOut.String())
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
	// In our words: not the loader library's advice to its programmers.
	for _, theirs := range []string{"rlimit.RemoveMemlock", "MEMLOCK", "field Bl", "map create"} {
		if strings.Contains(r.stderr, theirs) {
			t.Errorf("stderr %q passes on the library's %q", r.stderr, theirs)
		}
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
}
