package nstest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
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

// unixClient connects to a Unix address n times without blocking, prints
// how many connects failed with EAGAIN, and stays until its stdin closes.
const unixClient = `import errno, socket, sys
name, n = sys.argv[1], int(sys.argv[2])
if name.startswith("@"):
    name = "\0" + name[1:]
refused, keep = 0, []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(name)
        keep.append(s)
    except OSError as e:
        if e.errno != errno.EAGAIN:
            raise
        refused += 1
print(refused, flush=True)
sys.stdin.read()
`

// UnixClient is a python3 process that connected to a Unix address.
type UnixClient struct {
	PID int
	// Refused is how many of its connects failed with EAGAIN.
	Refused int
	stdin   io.Closer
	cmd     *exec.Cmd
}

// Exit ends the client and waits for it.
func (c *UnixClient) Exit() {
	c.stdin.Close()
	c.cmd.Wait()
}

// ConnectUnixFrom runs a python3 client in directory dir (prefix, such as
// `unshare -n`, before it) that makes n non-blocking connects to name, a
// path (relative to dir unless absolute) or an "@abstract" name, and
// returns once they are done; the client stays until Exit or the test's end.
func ConnectUnixFrom(t testing.TB, dir, name string, n int, prefix ...string) *UnixClient {
	t.Helper()
	args := append(prefix, Python(t), "-c", unixClient, name, strconv.Itoa(n))
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the client: %v", err)
	}
	c := &UnixClient{PID: cmd.Process.Pid, stdin: stdin, cmd: cmd}
	t.Cleanup(c.Exit)
	line, err := bufio.NewReader(out).ReadString('\n')
	if c.Refused, err = strconv.Atoi(strings.TrimSpace(line)); err != nil {
		t.Fatalf("the client connecting to %s printed %q: %v", name, line, err)
	}
	return c
}
