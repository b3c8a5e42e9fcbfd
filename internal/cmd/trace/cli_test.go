package trace_test

import (
	"bufio"
	"encoding/json"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/cmd/app"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/trace"
)

func TestMain(m *testing.M) { nstest.Main(m, app.Main) }

// Ending `backlogctl trace` with SIGTERM or Ctrl-C (SIGINT) prints a final
// report, exits 0 and leaves none of its programs loaded.
func TestSignalsDetachEverything(t *testing.T) {
	nstest.RequireRoot(t)
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		t.Skip("this kernel has no BTF (/sys/kernel/btf/vmlinux): trace cannot run")
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := nstest.CLICommand("trace", "-o", "json", "--interval", "100ms", "--port", "1")
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			lines := bufio.NewScanner(out)
			lines.Buffer(nil, 1<<20)
			if !lines.Scan() {
				t.Fatalf("no report from trace: %v", lines.Err())
			}
			var r trace.Report
			if err := json.Unmarshal(lines.Bytes(), &r); err != nil {
				t.Fatalf("first line %q: %v", lines.Text(), err)
			}
			if len(r.Tracer.Programs) != len(trace.Hooks) {
				t.Fatalf("report lists programs %+v, want %d", r.Tracer.Programs, len(trace.Hooks))
			}
			if still, err := trace.Loaded(r.Tracer.Programs); err != nil || len(still) != len(trace.Hooks) {
				t.Fatalf("while running, loaded %+v (%v); want all %d", still, err, len(trace.Hooks))
			}
			if r.Tracer.RSSBytes == 0 {
				t.Errorf("rss_bytes 0: RSS not reported") // the 32 MiB bound: e2e's TestTraceMemory
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			for lines.Scan() { // the rest, up to the final report
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("trace ended by %s: %v, want exit 0", sig, err)
			}
			nstest.Eventually(t, 10*time.Second, "every program unloaded", func() bool {
				still, err := trace.Loaded(r.Tracer.Programs)
				if err != nil {
					t.Fatal(err)
				}
				return len(still) == 0
			})
		})
	}
}
