package trace_test

import (
	"bufio"
	"encoding/json"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/cmd/app"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
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
			var r model.TraceReport
			if err := json.Unmarshal(lines.Bytes(), &r); err != nil {
				t.Fatalf("first line %q: %v", lines.Text(), err)
			}
			if len(r.Tracer.Programs) != len(trace.Hooks) {
				t.Fatalf("report lists programs %+v, want %d", r.Tracer.Programs, len(trace.Hooks))
			}
			if still, err := trace.Loaded(hooksOf(r.Tracer.Programs)); err != nil || len(still) != len(trace.Hooks) {
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
				still, err := trace.Loaded(hooksOf(r.Tracer.Programs))
				if err != nil {
					t.Fatal(err)
				}
				return len(still) == 0
			})
		})
	}
}

// A server stopped before it accepted anything has no accepting process for
// the programs to name; trace still names its owner and the owner's state.
func TestStoppedServerNamedWithoutAccept(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		t.Skip("this kernel has no BTF (/sys/kernel/btf/vmlinux): trace cannot run")
	}
	port := nstest.FreePort(t)
	srv := nstest.StartPython(t, port, "-c",
		`import socket,sys,time
s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(2); time.sleep(120)`,
		strconv.Itoa(int(port)))
	srv.Signal(t, syscall.SIGSTOP)
	defer srv.Signal(t, syscall.SIGCONT)
	for range 5 {
		nstest.Connect(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port))
	}
	out, err := nstest.CLICommand("trace", "-o", "json", "--duration", "3s", "--interval", "1s",
		"--stall", "100ms", "--port", strconv.Itoa(int(port))).Output()
	if err != nil {
		t.Fatalf("trace: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var r model.TraceReport
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	if len(r.Listeners) != 1 {
		t.Fatalf("listeners %+v, want the one on port %d", r.Listeners, port)
	}
	l := r.Listeners[0]
	if !l.Stalled {
		t.Errorf("stalled false with %d queued and the server stopped", l.AcceptQueue)
	}
	if len(l.Processes) != 1 || l.Processes[0].PID != srv.PID() || !strings.HasPrefix(l.Processes[0].State, "T") {
		t.Errorf("processes %+v, want python3[%d] in state T (stopped)", l.Processes, srv.PID())
	}
}

// hooksOf are the programs a report lists, as trace.Loaded looks them up.
func hooksOf(ps []model.TracerProgram) []trace.Hook {
	out := make([]trace.Hook, len(ps))
	for i, p := range ps {
		out[i] = trace.Hook{Program: p.Program, Tracepoint: p.Tracepoint, ID: p.ID}
	}
	return out
}
