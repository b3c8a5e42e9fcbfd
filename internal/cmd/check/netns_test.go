package check

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/check"
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/netns"
	"github.com/backlogctl/backlogctl/netns/netnstest"
)

// runReal runs `check ARGS` against the real host (/proc), in process.
func runReal(t *testing.T, args ...string) run {
	t.Helper()
	ios, _, stdout, stderr := iostreams.Test()
	f := &cmdutil.Factory{IOStreams: ios, Roots: hostfs.Host()}
	cmd := NewCmdCheck(f, nil)
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	r := run{code: cmdutil.ExitCode(err), stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		r.stderr += err.Error()
	}
	return r
}

// inNetns sets somaxconn inside the namespace at path and, when backlog > 0,
// opens a loopback listener there with listen(backlog).
func inNetns(t *testing.T, path string, somaxconn, backlog int) uint16 {
	t.Helper()
	return nstest.PrepareNetns(t, path, somaxconn, backlog)
}

// label is how check names the namespace at path.
func label(t *testing.T, path string) string {
	t.Helper()
	ns, err := netns.Resolve(path, "")
	if err != nil {
		t.Fatal(err)
	}
	return ns.Label()
}

// connect starts a non-blocking connect to 127.0.0.1:port from the calling
// thread's namespace; the socket is closed when the test ends.
func connect(t *testing.T, port uint16) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	t.Cleanup(func() { unix.Close(fd) })
	err = unix.Connect(fd, &unix.SockaddrInet4{Port: int(port), Addr: [4]byte{127, 0, 0, 1}})
	if err != nil && err != unix.EINPROGRESS {
		return fmt.Errorf("connect 127.0.0.1:%d: %w", port, err)
	}
	return nil
}

func TestCheckNetnsSysctlAndListener(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	a, b := netnstest.Hold(t), netnstest.Hold(t)
	portA := inNetns(t, a, 111, 1000)
	inNetns(t, b, 4096, 0)
	pa := strconv.Itoa(int(portA))

	r := runReal(t, "--netns", a, "--require", "somaxconn==111")
	if r.code != 0 || !strings.Contains(r.stdout, label(t, a)+"\tPASS\tnet.core.somaxconn\t111") {
		t.Errorf("--netns A somaxconn==111: exit %d, want 0 and a labelled PASS\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runReal(t, "--netns", b, "--require", "somaxconn==111")
	if r.code != cmdutil.ExitFailed || !strings.Contains(r.stdout, label(t, b)+"\tFAIL\tnet.core.somaxconn\t4096") {
		t.Errorf("--netns B somaxconn==111: exit %d, want 1 and a labelled FAIL\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The listener exists only in A, with listen(1000) clamped to A's 111,
	// and its owner (this process) is found from outside the namespace.
	r = runReal(t, "--netns", a, "--port", pa, "--require", "listener.accept_queue_max==111",
		"--require", "process.nofile_soft>=1", "-o", "json")
	var rep Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("parsing JSON: %v\n%s%s", err, r.stdout, r.stderr)
	}
	if r.code != 0 || rep.Summary.Passed != 2 {
		t.Errorf("--netns A listener: exit %d, summary %+v, want both passed\n%s%s", r.code, rep.Summary, r.stdout, r.stderr)
	}
	for _, res := range rep.Results {
		if res.Netns != label(t, a) {
			t.Errorf("%s: netns %q, want %q", res.Requirement, res.Netns, label(t, a))
		}
	}
	if len(rep.Results) > 0 && rep.Results[0].Where != "127.0.0.1:"+pa {
		t.Errorf("listener seen at %q, want 127.0.0.1:%s", rep.Results[0].Where, pa)
	}
	// Here, in the test's own namespace, there is no such listener.
	r = runReal(t, "--port", pa, "--require", "listener.accept_queue_max==111")
	if r.code != cmdutil.ExitEnv || !strings.Contains(r.stdout, "no listener matched") {
		t.Errorf("without --netns: exit %d, want 3 (no listener matched)\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestCheckAllNetnsJudgesEachNamespace(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	a, b := netnstest.Hold(t), netnstest.Hold(t)
	inNetns(t, a, 111, 0)
	inNetns(t, b, 222, 0)
	r := runReal(t, "--all-netns", "--require", "somaxconn==111", "-o", "json")
	if r.code != cmdutil.ExitFailed {
		t.Errorf("exit %d, want 1 (B fails)\n%s", r.code, r.stderr)
	}
	var rep Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("parsing JSON: %v\n%s%s", err, r.stdout, r.stderr)
	}
	got := map[string]check.Result{}
	for _, res := range rep.Results {
		if _, dup := got[res.Netns]; dup {
			t.Errorf("namespace %q judged twice", res.Netns)
		}
		got[res.Netns] = res
	}
	la, lb, here := label(t, a), label(t, b), label(t, "/proc/self/ns/net")
	for _, w := range []struct {
		label    string
		status   check.Status
		observed string
	}{{la, check.StatusPass, "111"}, {lb, check.StatusFail, "222"}, {here, check.StatusFail, "4096"}} {
		res, ok := got[w.label]
		if !ok {
			t.Errorf("namespace %s not reported; got %v", w.label, rep.Results)
			continue
		}
		if res.Status != w.status || res.Observed.String() != w.observed {
			t.Errorf("%s: %s observed %s, want %s observed %s", w.label, res.Status, res.Observed, w.status, w.observed)
		}
	}
	if rep.Status != check.StatusFail || rep.ExitCode != cmdutil.ExitFailed {
		t.Errorf("report status %s exit %d, want fail 1", rep.Status, rep.ExitCode)
	}

	// JUnit names each testcase after its namespace.
	r = runReal(t, "--all-netns", "--require", "somaxconn==111", "-o", "junit")
	if !strings.Contains(r.stdout, `name="`+la+`: net.core.somaxconn == 111"`) {
		t.Errorf("junit has no testcase for %s:\n%s", la, r.stdout)
	}
}

// flood connects to 127.0.0.1:port inside the namespace at path (or here,
// when path is "") every 10ms until done is closed, at most 300 times.
func flood(t *testing.T, path string, port uint16, done <-chan struct{}) error {
	for range 300 {
		select {
		case <-done:
			return nil
		default:
		}
		var err error
		if path == "" {
			err = connect(t, port)
		} else {
			err = netns.Do(path, func() error { return connect(t, port) })
		}
		if err != nil {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// observeWhileFlooding runs `check --observe ... ARGS` while flooding
// 127.0.0.1:port in the namespace at path ("" for here).
func observeWhileFlooding(t *testing.T, path string, port uint16, args ...string) run {
	t.Helper()
	done := make(chan struct{})
	res := make(chan run, 1)
	go func() {
		res <- runReal(t, args...)
		close(done)
	}()
	if err := flood(t, path, port, done); err != nil {
		t.Fatal(err)
	}
	return <-res
}

func TestCheckObserveInNetns(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	a := netnstest.Hold(t)
	portA := inNetns(t, a, 2, 100)
	nstest.SetSysctl(t, "net.core.somaxconn", 2)
	_, here := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 100, nstest.ListenOpts{})
	args := []string{"--netns", a, "--observe", "500ms", "--sample-interval", "20ms",
		"--require", "counter.TcpExtListenOverflows==0", "--port", strconv.Itoa(int(portA)), "--require", "listener.drops==0"}

	// Overflows here, in the test's own namespace, are not A's.
	before, err := inspect.ReadCounters("/proc")
	if err != nil {
		t.Fatal(err)
	}
	r := observeWhileFlooding(t, "", here.Port(), args...)
	after, err := inspect.ReadCounters("/proc")
	if err != nil {
		t.Fatal(err)
	}
	if after["TcpExtListenOverflows"] <= before["TcpExtListenOverflows"] {
		t.Fatalf("flooding here caused no overflow here (%d -> %d): the test proves nothing",
			before["TcpExtListenOverflows"], after["TcpExtListenOverflows"])
	}
	if r.code != 0 {
		t.Errorf("overflows here failed --netns A: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Overflows in A during the window fail it.
	r = observeWhileFlooding(t, a, portA, args...)
	if r.code != cmdutil.ExitFailed {
		t.Errorf("overflows in A: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{label(t, a) + "\tFAIL\tcounter.TcpExtListenOverflows", label(t, a) + "\tFAIL\tlistener.drops"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}

	// --all-netns windows run side by side: A's overflows fail A, not the
	// quiet B (here, SYNs of the first flood are still being retransmitted).
	b := netnstest.Hold(t)
	r = observeWhileFlooding(t, a, portA, "--all-netns", "--observe", "500ms", "--sample-interval", "20ms",
		"--require", "counter.TcpExtListenOverflows==0")
	if r.code != cmdutil.ExitFailed {
		t.Errorf("--all-netns, overflows in A: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{label(t, a) + "\tFAIL\tcounter.TcpExtListenOverflows", label(t, b) + "\tPASS\tcounter.TcpExtListenOverflows\t0 (increase)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--all-netns output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestCheckNetnsErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want int
		msg  string
	}{
		{[]string{"--netns", "no-such-backlogctl-namespace"}, cmdutil.ExitUsage, "no such network namespace"},
		{[]string{"--netns", "/proc/999999999/ns/net"}, cmdutil.ExitUsage, "no such network namespace"},
		{[]string{"--netns", "/etc/hostname"}, cmdutil.ExitUsage, "not a network namespace"},
		{[]string{"--netns", "x", "--all-netns"}, cmdutil.ExitUsage, "cannot be used together"},
	} {
		r := runReal(t, append(tt.args, "--require", "somaxconn>=1")...)
		if r.code != tt.want || !strings.Contains(r.stderr, tt.msg) || r.stdout != "" {
			t.Errorf("check %v: exit %d %q, want exit %d saying %q and no output", tt.args, r.code, r.stderr, tt.want, tt.msg)
		}
	}
}
