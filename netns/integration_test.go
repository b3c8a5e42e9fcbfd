package netns_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/netns"
	"github.com/backlogctl/backlogctl/netns/netnstest"
	"github.com/backlogctl/backlogctl/sysctl"
)

// listenLoopback opens a listener on 127.0.0.1 (port picked by the kernel)
// in the calling thread's namespace and returns its fd and port.
func listenLoopback(backlog int) (int, int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, err
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	return fd, sa.(*unix.SockaddrInet4).Port, nil
}

// After setns on a locked thread, /proc/sys/net and /proc/thread-self/net show
// the thread's namespace while /proc/self/net still shows the thread-group
// leader's: a listener made inside is in thread-self/net/tcp only.
func TestDoThreadSelfFollowsNamespace(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	path := netnstest.Hold(t)
	var inside, leader []byte
	var somaxconn int64
	var port int
	// /proc/self/net is the leader's view: the proof needs Do's thread to be
	// another thread, so keep the leader busy and retry if it is picked anyway.
	defer occupyLeader(t)()
	errLeader := errors.New("ran on the thread-group leader")
	var err error
	for try := 0; try < 100; try++ {
		if err = inNamespace(path, &inside, &leader, &somaxconn, &port, errLeader); !errors.Is(err, errLeader) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	local := fmt.Sprintf("0100007F:%04X", port)
	if !bytes.Contains(inside, []byte(local)) {
		t.Errorf("/proc/thread-self/net/tcp inside the namespace lacks listener %s:\n%s", local, inside)
	}
	if bytes.Contains(leader, []byte(local)) {
		t.Errorf("/proc/self/net/tcp shows the namespace's listener %s: it should follow the thread-group leader", local)
	}
	if somaxconn != 77 {
		t.Errorf("somaxconn read inside = %d, want 77", somaxconn)
	}
	// An outside view through nsenter agrees, and ours is untouched.
	out, err := exec.Command("nsenter", "--net="+path, "cat", "/proc/sys/net/core/somaxconn").Output()
	if err != nil || strings.TrimSpace(string(out)) != "77" {
		t.Errorf("nsenter sees somaxconn %q (%v), want 77", out, err)
	}
	if v, _ := sysctl.NewFS("").ReadInt("net.core.somaxconn"); v == 77 {
		t.Errorf("somaxconn in the test's own namespace changed to 77")
	}
}

// Do puts the thread back: after many calls, no thread of this process is
// left in the foreign namespace.
func TestDoRestoresThread(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	path := netnstest.Hold(t)
	target, err := netns.Resolve(path, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if err := netns.Do(path, func() error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		var st unix.Stat_t
		if err := unix.Stat("/proc/self/task/"+task.Name()+"/ns/net", &st); err != nil {
			continue
		}
		if st.Ino == target.Inode {
			t.Errorf("thread %s is still in the target namespace after Do returned", task.Name())
		}
	}
	fnErr := errors.New("from fn")
	if err := netns.Do(path, func() error { return fnErr }); !errors.Is(err, fnErr) {
		t.Errorf("Do returned %v, want fn's error", err)
	}
}

func TestVanishedAndBadPaths(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	err := netns.Do("/proc/999999999/ns/net", func() error { return nil })
	if !errors.Is(err, netns.ErrVanished) {
		t.Errorf("Do on a missing pid: %v, want ErrVanished", err)
	}
	if _, err := netns.Resolve("no-such-backlogctl-ns", t.TempDir()); !errors.Is(err, netns.ErrVanished) {
		t.Errorf("Resolve of a missing name: %v, want ErrVanished", err)
	}
	f := t.TempDir() + "/plain"
	os.WriteFile(f, nil, 0o600)
	if _, err := netns.Resolve(f, ""); err == nil || !strings.Contains(err.Error(), "not a network namespace") {
		t.Errorf("Resolve of a plain file: %v, want 'not a network namespace'", err)
	}
}

// List finds namespaces held by processes and named ones, once each.
func TestListFindsHeldAndNamed(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	held := netnstest.Hold(t)
	name := netnstest.Named(t)
	heldNS, err := netns.Resolve(held, "")
	if err != nil {
		t.Fatal(err)
	}
	named, err := netns.Resolve(name, "")
	if err != nil {
		t.Fatal(err)
	}
	if named.Name != name || named.Path != netns.DefaultRunDir+"/"+name {
		t.Errorf("Resolve(%q) = %+v, want name and /run/netns path", name, named)
	}
	list, _, err := netns.List(hostfs.Roots{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]int{}
	for _, ns := range list {
		seen[ns.Inode]++
		if ns.Inode == named.Inode && ns.Name != name {
			t.Errorf("named namespace listed as %+v, want name %q", ns, name)
		}
	}
	for ino, n := range seen {
		if n > 1 {
			t.Errorf("namespace %d listed %d times", ino, n)
		}
	}
	if seen[heldNS.Inode] != 1 || seen[named.Inode] != 1 {
		t.Errorf("List missed a test namespace: held %d named %d in %+v", heldNS.Inode, named.Inode, list)
	}
}

// inNamespace makes a listener and sets somaxconn 77 in the namespace at
// path, and reads the thread's and the leader's view of net/tcp.
func inNamespace(path string, inside, leader *[]byte, somaxconn *int64, port *int, errLeader error) error {
	return netns.Do(path, func() error {
		if unix.Gettid() == os.Getpid() {
			return errLeader
		}
		if err := sysctl.NewFS("").Write("net.core.somaxconn", "77"); err != nil {
			return err
		}
		fd, p, err := listenLoopback(5)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		*port = p
		if *inside, err = os.ReadFile("/proc/thread-self/net/tcp"); err != nil {
			return err
		}
		if *leader, err = os.ReadFile("/proc/self/net/tcp"); err != nil {
			return err
		}
		*somaxconn, err = sysctl.NewFS("").ReadInt("net.core.somaxconn")
		return err
	})
}

// occupyLeader parks a goroutine locked on the thread-group leader, so other
// goroutines run on other threads, until the returned func is called.
func occupyLeader(t *testing.T) func() {
	for i := 0; i < 100; i++ {
		onLeader, release := make(chan bool), make(chan struct{})
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if unix.Gettid() != os.Getpid() {
				onLeader <- false
				return
			}
			onLeader <- true
			<-release
		}()
		if <-onLeader {
			return func() { close(release) }
		}
	}
	t.Log("could not park a goroutine on the leader thread")
	return func() {}
}
