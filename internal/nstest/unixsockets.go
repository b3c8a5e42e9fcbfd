package nstest

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ListenUnix opens a Unix listener of type typ (unix.SOCK_STREAM or
// unix.SOCK_SEQPACKET) on name, a path or an "@abstract" name, with the
// given listen() backlog, using raw syscalls so the backlog is exactly what
// the test asks for. The descriptor is closed when the test ends. A path
// must lie in the test's own temporary directory; an abstract name lives in
// the network namespace, so only a test's own namespace may have one.
func ListenUnix(t testing.TB, typ int, name string, backlog int) int {
	t.Helper()
	if strings.HasPrefix(name, "@") {
		requireChild(t, "an abstract Unix listener "+name)
	}
	fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket(AF_UNIX): %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	must(t, "bind "+name, unix.Bind(fd, &unix.SockaddrUnix{Name: name}))
	must(t, "listen "+name, unix.Listen(fd, backlog))
	return fd
}

// ConnectUnix starts a non-blocking connect to the Unix listener name and
// returns the descriptor (closed when the test ends) or the error: EAGAIN
// when the listener's queue is full (unix_stream_connect).
func ConnectUnix(t testing.TB, typ int, name string) (int, error) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket(AF_UNIX): %v", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: name}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd, nil
}

// FillUnix connects to name until the kernel refuses with EAGAIN, at most
// limit times, and returns how many connections were queued.
func FillUnix(t testing.TB, typ int, name string, limit int) int {
	t.Helper()
	for n := 0; n < limit; n++ {
		if _, err := ConnectUnix(t, typ, name); err != nil {
			if err != unix.EAGAIN {
				t.Fatalf("connect %s: %v", name, err)
			}
			return n
		}
	}
	return limit
}

// UnixListening reports whether a Unix listener is bound to name (a path
// or "@abstract") in this network namespace, from /proc/net/unix: no
// sock_diag here, since inspect's own tests use this package.
func UnixListening(name string) bool {
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		// Num RefCount Protocol Flags Type St Inode Path; Flags has
		// __SO_ACCEPTCON (1<<16) on a listener.
		f := strings.Fields(line)
		if len(f) >= 8 && f[3] == "00010000" && f[7] == name {
			return true
		}
	}
	return false
}

// BlockedConnectUnix starts a blocking connect to the Unix listener name
// on a thread of its own and returns once the kernel has put that thread
// to sleep in connect() (the listener is full: unix_wait_for_peer), as
// /proc/self/task/TID/syscall and stat show. The channel gets connect()'s
// result when it returns; the descriptor is closed when the test ends.
func BlockedConnectUnix(t testing.TB, typ int, name string) <-chan error {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket(AF_UNIX): %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	tid := make(chan int, 1)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		tid <- unix.Gettid()
		done <- unix.Connect(fd, &unix.SockaddrUnix{Name: name})
	}()
	task := fmt.Sprintf("/proc/self/task/%d/", <-tid)
	Eventually(t, 5*time.Second, "the connect to "+name+" to sleep", func() bool {
		sc, err := os.ReadFile(task + "syscall")
		if err != nil || !strings.HasPrefix(string(sc), strconv.Itoa(unix.SYS_CONNECT)+" ") {
			return false
		}
		st, err := os.ReadFile(task + "stat")
		// pid (comm) STATE ...: comm may hold spaces, the state follows its ')'.
		i := strings.LastIndexByte(string(st), ')')
		return err == nil && i > 0 && strings.HasPrefix(string(st[i:]), ") S ")
	})
	return done
}
