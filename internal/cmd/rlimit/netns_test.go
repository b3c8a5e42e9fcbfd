package rlimit

import (
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/netns"
	"github.com/backlogctl/backlogctl/netns/netnstest"
)

// runCLI runs `rlimit ARGS` against the real host (/proc), in process.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ios, _, out, errOut := iostreams.Test()
	f := &cmdutil.Factory{IOStreams: ios, Roots: hostfs.Host()}
	cmd := NewCmdRlimit(f, nil)
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	if err != nil {
		errOut.WriteString(err.Error())
	}
	return cmdutil.ExitCode(err), out.String(), errOut.String()
}

// ownsPort reports whether the JSON report lists this test process as
// holding port.
func ownsPort(t *testing.T, stdout string, port uint16) bool {
	t.Helper()
	var rep model.LimitsReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	for _, p := range rep.Processes {
		if p.PID == os.Getpid() && slices.Contains(p.Ports, port) {
			return true
		}
	}
	return false
}

// A listener in another network namespace is invisible to a plain `rlimit`
// but its owner is found with --netns (by path) and with --all-netns, from
// one /proc walk on the host; both flags at once are a usage error, and a
// namespace that does not exist is one too.
func TestRlimitFindsOwnersInOtherNamespaces(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	other := netnstest.Hold(t)
	port := nstest.PrepareNetns(t, other, 4096, 16)

	code, out, errOut := runCLI(t, "-o", "json")
	if code != 0 && code != cmdutil.ExitFailed || ownsPort(t, out, port) {
		t.Errorf("plain rlimit: exit %d, listed port %d of another namespace: %s%s", code, port, out, errOut)
	}
	for _, args := range [][]string{{"--netns", other}, {"--all-netns"}} {
		code, out, errOut := runCLI(t, append(args, "-o", "json")...)
		if code != 0 && code != cmdutil.ExitFailed || !ownsPort(t, out, port) {
			t.Errorf("rlimit %v: exit %d, want this process (%d) holding port %d:\n%s%s", args, code, os.Getpid(), port, out, errOut)
		}
	}
	if code, _, errOut := runCLI(t, "--netns", other, "--all-netns"); code != cmdutil.ExitUsage || !strings.Contains(errOut, "cannot be used together") {
		t.Errorf("--netns with --all-netns: exit %d (%s), want %d", code, errOut, cmdutil.ExitUsage)
	}
	if code, _, errOut := runCLI(t, "--netns", "bl10b-no-such-ns"); code != cmdutil.ExitUsage {
		t.Errorf("--netns of nothing: exit %d (%s), want %d", code, errOut, cmdutil.ExitUsage)
	}
}

// rlimit set writes one process's limit: both namespace flags are refused
// with a usage error (exit 2) naming the way to find the pid.
func TestRlimitSetRefusesNamespaces(t *testing.T) {
	for _, args := range [][]string{{"--all-netns"}, {"--netns", "blue"}} {
		code, _, errOut := runCLI(t, append([]string{"set", "--pid", "1", "--nofile", "1024"}, args...)...)
		if code != cmdutil.ExitUsage || !strings.Contains(errOut, "rlimit --") {
			t.Errorf("set %v: exit %d, %q; want %d pointing at rlimit's own flag", args, code, errOut, cmdutil.ExitUsage)
		}
	}
}

// A process listening on the same port in two namespaces has a row in each,
// labelled: --all-netns gives each row its namespace (NETNS, "netns"), so
// the equal ports are not one ambiguous row (they once were).
func TestRlimitLabelsNamespaces(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	a, b := netnstest.Hold(t), netnstest.Hold(t)
	port := nstest.PrepareNetns(t, a, 4096, 16)
	if err := netns.Do(b, func() error {
		if err := exec.Command("ip", "link", "set", "lo", "up").Run(); err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		t.Cleanup(func() { unix.Close(fd) })
		if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(port), Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			return err
		}
		return unix.Listen(fd, 16)
	}); err != nil {
		t.Fatal(err)
	}
	nsA, errA := netns.Resolve(a, "")
	nsB, errB := netns.Resolve(b, "")
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	_, out, errOut := runCLI(t, "--all-netns", "-o", "json")
	var rep model.LimitsReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s%s", err, out, errOut)
	}
	rows := map[string][]uint16{}
	for _, p := range rep.Processes {
		if p.PID == os.Getpid() {
			rows[p.Netns] = p.Ports
		}
	}
	want := map[string][]uint16{nsA.Label(): {port}, nsB.Label(): {port}}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("this process's rows by namespace (-want +got):\n%s", diff)
	}
	_, out, _ = runCLI(t, "--netns", b)
	if !strings.HasPrefix(out, "NETNS\tPID\t") || !strings.Contains(out, nsB.Label()+"\t"+strconv.Itoa(os.Getpid())+"\t") {
		t.Errorf("table for --netns:\n%s\nwant a NETNS column naming %s", out, nsB.Label())
	}
}
