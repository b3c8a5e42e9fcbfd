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
			if len(r.Tracer.Programs) != len(trace.StartHooks) {
				t.Fatalf("report lists programs %+v, want %d", r.Tracer.Programs, len(trace.StartHooks))
			}
			if still, err := trace.Loaded(hooksOf(r.Tracer.Programs)); err != nil || len(still) != len(trace.StartHooks) {
				t.Fatalf("while running, loaded %+v (%v); want all %d", still, err, len(trace.StartHooks))
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

// SIGHUP (a closed terminal, a session's end) ends trace as SIGTERM and
// Ctrl-C do: one final report, exit 0, nothing left loaded. With an
// interval of an hour, the only report is the final one.
func TestEverySignalEndsWithAFinalReport(t *testing.T) {
	nstest.RequireRoot(t)
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		t.Skip("this kernel has no BTF (/sys/kernel/btf/vmlinux): trace cannot run")
	}
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := nstest.CLICommand("trace", "-o", "json", "--interval", "1h", "--port", "1")
			var stdout strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			// Its programs are attached once it holds a link for each.
			nstest.Eventually(t, time.Minute, "trace to attach its programs", func() bool {
				return bpfLinks(cmd.Process.Pid) >= len(trace.StartHooks)
			})
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("trace ended by %s: %v, want exit 0", sig, err)
			}
			lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			var r model.TraceReport
			// At least the programs attached at start: connect()'s entry
			// program joins them once any Unix listener on the host is seen
			// full (another test's, in a suite run in parallel).
			if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &r) != nil || len(r.Tracer.Programs) < len(trace.StartHooks) {
				t.Fatalf("after %s trace printed %q; want one final JSON report", sig, stdout.String())
			}
			if still, err := trace.Loaded(hooksOf(r.Tracer.Programs)); err != nil || len(still) != 0 {
				t.Errorf("after %s still loaded: %+v (%v)", sig, still, err)
			}
		})
	}
}

// bpfLinks counts pid's descriptors that are eBPF links.
func bpfLinks(pid int) int {
	fds, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + fd.Name()); err == nil && target == "anon_inode:bpf_link" {
			n++
		}
	}
	return n
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
