package nstest

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Server is a real server program started by a test in its namespace.
type Server struct {
	Cmd  *exec.Cmd
	Addr netip.AddrPort
	// Dir holds its configuration and logs.
	Dir string
}

// PID is the server's main process (nginx's master).
func (s *Server) PID() int { return s.Cmd.Process.Pid }

// Signal sends sig to the server and every process of its process group
// (nginx's workers too).
func (s *Server) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(-s.PID(), sig); err != nil {
		t.Fatalf("signal %v to process group %d: %v", sig, s.PID(), err)
	}
}

// FreePort returns a loopback port nothing listens on now.
func FreePort(t testing.TB) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// start runs cmd in its own process group, killed (after SIGCONT) when the
// test ends, and waits until addr is listening.
func start(t testing.TB, cmd *exec.Cmd, addr netip.AddrPort, dir string) *Server {
	t.Helper()
	return startUntil(t, cmd, addr, dir, addr.String(), func() bool { return listening(addr.Port()) })
}

// startUntil is start, waiting until ready says the server listens on what.
func startUntil(t testing.TB, cmd *exec.Cmd, addr netip.AddrPort, dir, what string, ready func() bool) *Server {
	t.Helper()
	requireChild(t, cmd.Path)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	out, err := os.Create(filepath.Join(dir, "output.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	s := &Server{Cmd: cmd, Addr: addr, Dir: dir}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-s.PID(), syscall.SIGCONT)
		_ = syscall.Kill(-s.PID(), syscall.SIGKILL)
		<-exited
		out.Close()
	})
	// Until it listens, or it exits (then its output says why); the
	// backstop only catches a server that hangs.
	Eventually(t, MinBackstop, cmd.Path+" to listen on "+what, func() bool {
		select {
		case <-exited:
			log, _ := os.ReadFile(out.Name())
			t.Fatalf("%s exited before it listened on %s: %v\n%s", cmd.Path, what, cmd.ProcessState, log)
		default:
		}
		return ready()
	})
	return s
}

// listening reports a LISTEN socket on port in /proc/net/tcp (no sock_diag
// here: inspect's own tests use this package).
func listening(port uint16) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false
	}
	suffix := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasSuffix(f[1], suffix) && f[3] == "0A" {
			return true
		}
	}
	return false
}

// requireChild refuses to start servers outside a test network namespace.
func requireChild(t testing.TB, what string) {
	t.Helper()
	if os.Getenv(childEnv) == "" {
		t.Fatalf("starting %s outside a test network namespace: refusing to touch the host", what)
	}
}

// NginxOpts shape the nginx a test starts.
type NginxOpts struct {
	// Backlog is the listen directive's backlog= (0: nginx's default 511).
	Backlog int
	// Workers is worker_processes (default 1).
	Workers int
	// Extra is added to the main context (e.g. "worker_rlimit_nofile 64;").
	Extra string
	// Server is the server block's contents after its listen directive
	// (default: every request answered "ok" by nginx itself).
	Server string
}

// StartNginx runs Debian's nginx (master and workers, in the foreground) on
// 127.0.0.1 with its configuration, pid file, logs and temp paths in a
// temporary directory.
func StartNginx(t testing.TB, o NginxOpts) *Server {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		t.Fatalf("nginx not installed (scripts/test.sh installs it): %v", err)
	}
	dir := t.TempDir()
	port := FreePort(t)
	if o.Workers == 0 {
		o.Workers = 1
	}
	if o.Server == "" {
		o.Server = `location / { return 200 "ok\n"; }`
	}
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	if o.Backlog > 0 {
		listen += fmt.Sprintf(" backlog=%d", o.Backlog)
	}
	conf := fmt.Sprintf(`user root;
worker_processes %d;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log;
%[3]s
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[2]s/body; proxy_temp_path %[2]s/proxy; fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi; scgi_temp_path %[2]s/scgi;
  keepalive_timeout 60s;
  server { listen %[4]s; %[5]s }
}
`, o.Workers, dir, o.Extra, listen, o.Server)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", confPath, "-p", dir, "-g", "daemon off;")
	return start(t, cmd, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port), dir)
}

// NginxPIDs returns the master's pid and its workers'.
func NginxPIDs(t testing.TB, s *Server) (master int, workers []int) {
	t.Helper()
	return s.PID(), children(t, s.PID())
}

// children returns the pids of pid's children.
func children(t testing.TB, pid int) []int {
	t.Helper()
	out, err := exec.Command("pgrep", "-P", strconv.Itoa(pid)).Output()
	if err != nil {
		t.Fatalf("pgrep children of %d: %v", pid, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		p, _ := strconv.Atoi(f)
		pids = append(pids, p)
	}
	return pids
}

// StartPython runs python3 with args (e.g. "-m", "http.server", PORT) and
// waits for port on 127.0.0.1.
func StartPython(t testing.TB, port uint16, args ...string) *Server {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(Python(t), args...)
	cmd.Dir = dir
	return start(t, cmd, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port), dir)
}

var python struct {
	once sync.Once
	path string
	err  error
}

// Python is the real python3 interpreter: the one `python3` on PATH runs,
// asked once for sys.executable. A version manager's shim (pyenv's is a
// shell script that resolves the version on every start) costs seconds per
// start on a busy machine, and a server started through it is not python3
// to ps or /proc/PID/comm.
func Python(t testing.TB) string {
	t.Helper()
	python.once.Do(func() {
		bin, err := exec.LookPath("python3")
		if err != nil {
			python.err = fmt.Errorf("python3 not installed: %w", err)
			return
		}
		out, err := exec.Command(bin, "-c", "import sys; print(sys.executable)").Output()
		if p := strings.TrimSpace(string(out)); err == nil && filepath.IsAbs(p) {
			python.path = p
			return
		}
		python.path = bin
	})
	if python.err != nil {
		t.Fatal(python.err)
	}
	return python.path
}

// goServer is a net/http server: Go's net.Listen asks for somaxconn itself.
const goServer = `package main

import (
	"net/http"
	"os"
)

func main() {
	http.ListenAndServe(os.Args[1], http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) }))
}
`

// StartGoServer builds a small net/http server with the go toolchain and
// runs it on 127.0.0.1.
func StartGoServer(t testing.TB) *Server {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go toolchain not found: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(goServer), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module goserver\n\ngo 1.21\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.Command(gobin, "build", "-o", "goserver", ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the Go server: %v\n%s", err, out)
	}
	port := FreePort(t)
	cmd := exec.Command(filepath.Join(dir, "goserver"), fmt.Sprintf("127.0.0.1:%d", port))
	return start(t, cmd, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port), dir)
}

// DropFinalACK adds nftables rules in the test's namespace that drop the
// handshake's final ACK to the given ports, so connects leave request
// sockets (the SYN queue) behind.
func DropFinalACK(t testing.TB, ports ...uint16) {
	t.Helper()
	requireChild(t, "nft")
	cmds := [][]string{
		{"add", "table", "inet", "backlogctl_test"},
		{"add", "chain", "inet", "backlogctl_test", "in", "{ type filter hook input priority 0 ; }"},
	}
	for _, p := range ports {
		cmds = append(cmds, []string{"add", "rule", "inet", "backlogctl_test", "in",
			"tcp", "dport", strconv.Itoa(int(p)), "tcp", "flags", "&", "(syn|ack)", "==", "ack", "drop"})
	}
	for _, c := range cmds {
		if out, err := exec.Command("nft", c...).CombinedOutput(); err != nil {
			t.Fatalf("nft %s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
}

// AllowFinalACK removes DropFinalACK's rules: the handshakes left open
// complete when the server retransmits its SYN-ACK and the client answers.
func AllowFinalACK(t testing.TB) {
	t.Helper()
	requireChild(t, "nft")
	if out, err := exec.Command("nft", "delete", "table", "inet", "backlogctl_test").CombinedOutput(); err != nil {
		t.Fatalf("nft delete table inet backlogctl_test: %v\n%s", err, out)
	}
}

// OpenRequests opens n connections to addr that each send a keep-alive HTTP
// request, so the server holds a descriptor for each it accepts.
func OpenRequests(t testing.TB, addr netip.AddrPort, n int) {
	t.Helper()
	req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	for i := 0; i < n; i++ {
		fd := Connect(t, addr)
		Eventually(t, 5*time.Second, "connect to "+addr.String(), func() bool {
			_, err := unix.Write(fd, req)
			return err == nil
		})
	}
}

// Stop sends SIGSTOP to each pid and waits until the kernel has stopped it
// (state T in /proc/PID/stat): kill() returns before the signal is
// delivered, and a process still in accept() may take a connection meant
// to wait in its queue. Each is continued when the test ends.
func Stop(t testing.TB, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatalf("SIGSTOP %d: %v", pid, err)
		}
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	}
	for _, pid := range pids {
		Eventually(t, 5*time.Second, fmt.Sprintf("process %d to stop", pid), func() bool {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			// The state follows the last ')' (the command name may hold one).
			i := strings.LastIndexByte(string(b), ')')
			return err == nil && i >= 0 && i+2 < len(b) && b[i+2] == 'T'
		})
	}
}
