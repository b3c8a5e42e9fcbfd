package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/netns"
	"github.com/backlogctl/backlogctl/netns/netnstest"
	"github.com/backlogctl/backlogctl/sysctl/sysctltest"
)

// fixturePID is above PID_MAX_LIMIT (4194304): no real process has it, so
// an owner with this pid can only come from the fixture /proc.
const fixturePID = 4999999

// The binary reads the host only through its roots: pointed by the
// factory's variables at a fixture /proc, /proc/sys and netns directory,
// inspect --netns finds the namespace by name in the fixture directory,
// --all-netns lists only what the fixtures show, and the tunables, counters
// and listener owners come from the fixture trees; only the listeners come
// from the kernel (sock_diag inside the namespace).
func TestBinaryReadsFixtureRoots(t *testing.T) {
	if !nstest.IsolateMount(t) {
		return
	}
	held := netnstest.Hold(t)
	port, inode := listenIn(t, held, 7)

	// The netns root: a name bound to the namespace, as `ip netns add` does
	// under /run/netns, in this test's private mount namespace.
	netnsDir := t.TempDir()
	const name = "i10r-fixture"
	bound := filepath.Join(netnsDir, name)
	if err := os.WriteFile(bound, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "--bind", held, bound).CombinedOutput(); err != nil {
		t.Fatalf("mount --bind %s %s: %v: %s", held, bound, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", bound).Run() })

	sys := sysctltest.Tree(t, sysctltest.With(map[string]string{"net/core/somaxconn": "1234\n"}))
	pid := fmt.Sprint(fixturePID)
	proc := sysctltest.Tree(t, map[string]string{
		// Read on the thread inside the namespace.
		"thread-self/net/netstat": "TcpExt: ListenOverflows ListenDrops\nTcpExt: 4242 4343\n",
		"thread-self/net/snmp":    "Tcp: ActiveOpens PassiveOpens\nTcp: 11 12\n",
		// The listener's owner.
		pid + "/comm":    "i10r-fixture\n",
		pid + "/cmdline": "i10r-fixture\x00--serve\x00",
		pid + "/limits": "Limit                     Soft Limit           Hard Limit           Units     \n" +
			"Max open files            64                   128                  files     \n",
	})
	if err := os.MkdirAll(filepath.Join(proc, pid, "fd"), 0o755); err != nil {
		t.Fatal(err)
	}
	for fd, target := range map[string]string{"0": "/dev/null", "3": fmt.Sprintf("socket:[%d]", inode)} {
		if err := os.Symlink(target, filepath.Join(proc, pid, "fd", fd)); err != nil {
			t.Fatal(err)
		}
	}

	cmd := exec.Command(bin, "inspect", "--netns", name, "--port", fmt.Sprint(port), "-o", "json")
	cmd.Env = append(os.Environ(), "BACKLOGCTL_PROC_ROOT="+proc, "BACKLOGCTL_SYSCTL_ROOT="+sys, "BACKLOGCTL_NETNS_ROOT="+netnsDir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("inspect with fixture roots: %v\n%s", err, stderrOf(err))
	}
	var got struct {
		Netns     model.Namespace   `json:"netns"`
		Sysctls   map[string]int64  `json:"sysctls"`
		Counters  map[string]uint64 `json:"counters"`
		Listeners []struct {
			Port           uint16 `json:"port"`
			AcceptQueueMax uint32 `json:"accept_queue_max"`
			Processes      []struct {
				PID        int    `json:"pid"`
				Comm       string `json:"comm"`
				Cmdline    string `json:"cmdline"`
				OpenFDs    int    `json:"open_fds"`
				NofileSoft uint64 `json:"nofile_soft"`
			} `json:"processes"`
		} `json:"listeners"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if got.Netns.Name != name || got.Netns.Path != bound {
		t.Errorf("netns = %+v, want name %q at %s (from the netns root)", got.Netns, name, bound)
	}
	if v := got.Sysctls["net.core.somaxconn"]; v != 1234 {
		t.Errorf("somaxconn = %d, want 1234 from the fixture /proc/sys", v)
	}
	if v := got.Counters["TcpExtListenOverflows"]; v != 4242 {
		t.Errorf("TcpExtListenOverflows = %d, want 4242 from the fixture /proc", v)
	}
	if v := got.Counters["TcpPassiveOpens"]; v != 12 {
		t.Errorf("TcpPassiveOpens = %d, want 12 from the fixture /proc", v)
	}
	if len(got.Listeners) != 1 || got.Listeners[0].Port != port || got.Listeners[0].AcceptQueueMax != 7 {
		t.Fatalf("listeners = %+v, want the namespace's one on port %d with backlog 7", got.Listeners, port)
	}
	ps := got.Listeners[0].Processes
	if len(ps) != 1 || ps[0].PID != fixturePID || ps[0].Comm != "i10r-fixture" || ps[0].Cmdline != "i10r-fixture --serve" ||
		ps[0].OpenFDs != 2 || ps[0].NofileSoft != 64 {
		t.Errorf("owners = %+v, want the fixture's pid %d (i10r-fixture, 2 descriptors, limit 64)", ps, fixturePID)
	}

	// --all-netns lists the namespaces of the fixture /proc's processes
	// (none: no PID/ns/net there) and those named under the netns root.
	cmd = exec.Command(bin, "inspect", "--all-netns", "--port", fmt.Sprint(port), "-o", "json")
	cmd.Env = append(os.Environ(), "BACKLOGCTL_PROC_ROOT="+proc, "BACKLOGCTL_SYSCTL_ROOT="+sys, "BACKLOGCTL_NETNS_ROOT="+netnsDir)
	if out, err = cmd.Output(); err != nil {
		t.Fatalf("inspect --all-netns with fixture roots: %v\n%s", err, stderrOf(err))
	}
	var all struct {
		Namespaces []struct {
			Netns model.Namespace `json:"netns"`
		} `json:"namespaces"`
	}
	if err := json.Unmarshal(out, &all); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(all.Namespaces) != 1 || all.Namespaces[0].Netns.Name != name {
		t.Errorf("--all-netns read %+v, want only %q, the one named under the netns root", all.Namespaces, name)
	}

	// The name is known only under the fixture netns root.
	cmd = exec.Command(bin, "inspect", "--netns", name, "-o", "json")
	cmd.Env = append(os.Environ(), "BACKLOGCTL_PROC_ROOT="+proc, "BACKLOGCTL_SYSCTL_ROOT="+sys)
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Errorf("inspect --netns %s without the netns root: %v, want exit 2 (no such namespace under /run/netns)", name, err)
	}
}

// listenIn opens a listener on 127.0.0.1 inside the namespace at path, with
// listen(backlog), closed when the test ends, and returns its port and
// socket inode.
func listenIn(t *testing.T, path string, backlog int) (uint16, uint64) {
	t.Helper()
	fd := -1
	err := netns.Do(path, func() error {
		var err error
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			return err
		}
		return unix.Listen(fd, backlog)
	})
	if fd >= 0 {
		t.Cleanup(func() { unix.Close(fd) })
	}
	if err != nil {
		t.Fatalf("listening in %s: %v", path, err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return uint16(sa.(*unix.SockaddrInet4).Port), st.Ino
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}
