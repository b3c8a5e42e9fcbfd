// Package netnstest creates network namespaces for tests: held by a child
// process (`unshare -n sleep`), or named with `ip netns add`; each is removed
// when the test ends.
package netnstest

import (
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/netns"
)

// Hold starts `unshare -n sleep` and returns the path of its network
// namespace (/proc/PID/ns/net) once the child has entered it, with loopback
// up. The child is killed when the test ends, and the namespace goes with it.
func Hold(t testing.TB) string {
	t.Helper()
	cmd := exec.Command("unshare", "-n", "sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting unshare -n sleep: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	path := fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid)
	self, err := netns.Current()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ns, err := netns.Resolve(path, "")
		if err == nil && ns.Inode != self.Inode {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("unshare -n (pid %d) did not enter a new network namespace", cmd.Process.Pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
	LoopbackUp(t, path)
	return path
}

var seq atomic.Int64

// Named creates a namespace with `ip netns add` under a name unique to this
// process, and deletes it when the test ends. /run/netns is host-wide, so
// the name carries the pid.
func Named(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("backlogctl-test-%d-%d", os.Getpid(), seq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	LoopbackUp(t, netns.DefaultRunDir+"/"+name)
	return name
}

// LoopbackUp brings lo up inside the namespace at path.
func LoopbackUp(t testing.TB, path string) {
	t.Helper()
	if out, err := exec.Command("nsenter", "--net="+path, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("bringing lo up in %s: %v: %s", path, err, out)
	}
}
