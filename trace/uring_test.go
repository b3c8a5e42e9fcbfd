package trace

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
)

// uringServer builds testdata/uring_accept.c, a liburing accept loop, with
// gcc (liburing-dev from Debian: a real server's io_uring path, the
// library's own submission and completion code, not ours).
func uringServer(t *testing.T) string {
	t.Helper()
	gcc := nstest.LookTool(t, "gcc")
	if _, err := os.Stat("/usr/include/liburing.h"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("liburing.h not found: scripts/test.sh installs liburing-dev")
		}
		t.Skip("liburing.h not found (apt-get install liburing-dev)")
	}
	bin := filepath.Join(t.TempDir(), "uring_accept")
	if out, err := exec.Command(gcc, "-O2", "-o", bin, "testdata/uring_accept.c", "-luring").CombinedOutput(); err != nil {
		t.Fatalf("building the io_uring server: %v\n%s", err, out)
	}
	return bin
}

// startUringServer runs the io_uring server in mode ("single" or "multi"),
// under a command prefix such as prlimit, and returns it and its port.
func startUringServer(t *testing.T, bin, mode string, prefix ...string) (*os.Process, uint16) {
	t.Helper()
	args := append(prefix, bin, mode)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the io_uring server: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the io_uring server's port: %v", err)
	}
	port, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("io_uring server printed %q", line)
	}
	return cmd.Process, uint16(port)
}

// Accepts made with io_uring (IORING_OP_ACCEPT, one at a time and
// multishot) are seen at io_uring's completions: accepted, their waits
// (matched to their connections) and the accepting process, as for
// accept(). The server is stopped while 20 connections queue, then resumed.
func TestUringAccept(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	const n = 20
	bin := uringServer(t)
	for _, mode := range []string{"single", "multi"} {
		t.Run(mode, func(t *testing.T) {
			tr := startTracing(t)
			proc, port := startUringServer(t, bin, mode)
			// Stopped while the clients connect, so that no accept races an
			// enqueue on another CPU (whose wait would then be timed from its
			// place, as for accept(): TestAcceptWaitConcurrent).
			if err := proc.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			for range n {
				nstest.Connect(t, loopback(port))
			}
			nstest.Eventually(t, 5*time.Second, "every client queued", func() bool { return acceptQueue(t, port) == n })
			if err := proc.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			var l *ListenerEvidence
			nstest.Eventually(t, 10*time.Second, "every connection accepted", func() bool {
				l = tr.report(port)
				return acceptQueue(t, port) == 0 && l.Enqueued == n && l.Accepted == n
			})
			if l.Accepted != n || l.AcceptWait.Count != n {
				t.Errorf("enqueued %d, accepted %d, accept_wait_seconds.count %d; want %d each", l.Enqueued, l.Accepted, l.AcceptWait.Count, n)
			}
			if l.AcceptWait.Unmatched > 0 {
				t.Errorf("accept_wait_seconds.unmatched %d: connections queued one at a time are each matched", l.AcceptWait.Unmatched)
			}
			if l.LastAcceptPID != proc.Pid {
				t.Errorf("last accepting process %d, want the io_uring server %d", l.LastAcceptPID, proc.Pid)
			}
		})
	}
}

// An io_uring accept that fails (EMFILE under RLIMIT_NOFILE 16) is an
// accept error of the listener and the process, as accept()'s are.
func TestUringAcceptEMFILE(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	bin := uringServer(t)
	for _, mode := range []string{"single", "multi"} {
		t.Run(mode, func(t *testing.T) {
			tr := startTracing(t)
			proc, port := startUringServer(t, bin, mode, "prlimit", "--nofile=16:16")
			tr.checkEMFILE(proc.Pid, port)
		})
	}
}

// On a kernel without io_uring (no io_uring_complete tracepoint in its
// BTF), the io_uring programs are made to return at once so the rest still
// loads, and nothing attaches them.
func TestWithoutUring(t *testing.T) {
	nstest.RequireRoot(t)
	spec, err := loadBpf()
	if err != nil {
		t.Fatal(err)
	}
	withoutUring(spec)
	var objs bpfObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		t.Fatalf("loading with the io_uring programs stubbed: %v", err)
	}
	objs.Close()
	hooks, _, _ := hookPlan(ModeFull, false)
	for _, h := range hooks {
		if uringHook(h) {
			t.Errorf("hook plan without io_uring has %+v", h)
		}
	}
	if len(hooks) != len(Hooks)-2 {
		t.Errorf("%d hooks without io_uring, want %d", len(hooks), len(Hooks)-2)
	}
}
