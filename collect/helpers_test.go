package collect

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/backlogctl/backlogctl/model"

	"golang.org/x/sys/unix"
)

// The test binary doubles as a listener-owning helper process: started with
// helperAddrEnv set, it sets its own RLIMIT_NOFILE, opens extra descriptors,
// listens, prints the bound port and waits for its stdin to close.
const (
	helperAddrEnv   = "BACKLOGCTL_TEST_LISTEN"
	helperNofileEnv = "BACKLOGCTL_TEST_NOFILE"   // "SOFT:HARD"
	helperExtraEnv  = "BACKLOGCTL_TEST_EXTRA_FD" // descriptors to open on /dev/null
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(helperAddrEnv); addr != "" {
		if err := listenHelper(addr); err != nil {
			fmt.Fprintln(os.Stderr, "listen helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func listenHelper(addr string) error {
	if v := os.Getenv(helperNofileEnv); v != "" {
		soft, hard, _ := strings.Cut(v, ":")
		s, err1 := strconv.ParseUint(soft, 10, 64)
		h, err2 := strconv.ParseUint(hard, 10, 64)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("bad %s %q", helperNofileEnv, v)
		}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: s, Max: h}); err != nil {
			return fmt.Errorf("setrlimit: %w", err)
		}
	}
	extra, _ := strconv.Atoi(os.Getenv(helperExtraEnv))
	var keep []*os.File
	for i := 0; i < extra; i++ {
		f, err := os.Open(os.DevNull)
		if err != nil {
			return err
		}
		keep = append(keep, f)
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return err
	}
	family := unix.AF_INET
	if ap.Addr().Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	var sa unix.Sockaddr = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	if family == unix.AF_INET6 {
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return err
	}
	if err := unix.Listen(fd, 16); err != nil {
		return err
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		return err
	}
	port := 0
	switch b := bound.(type) {
	case *unix.SockaddrInet4:
		port = b.Port
	case *unix.SockaddrInet6:
		port = b.Port
	}
	fmt.Println(port)
	_, _ = io.Copy(io.Discard, os.Stdin) // until the test closes our stdin
	_ = keep
	return nil
}

// helperProc is a running listen helper.
type helperProc struct {
	cmd  *exec.Cmd
	port uint16
}

// startHelper runs the test binary as a listen helper named comm (via a
// symlink, so the kernel's comm is ours to choose), with env settings.
func startHelper(t *testing.T, comm, addr string, env ...string) helperProc {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), comm)
	if err := os.Symlink(self, link); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(link)
	cmd.Env = append(os.Environ(), append([]string{helperAddrEnv + "=" + addr}, env...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("listen helper %s did not report its port: %v", comm, err)
	}
	port, err := strconv.ParseUint(strings.TrimSpace(line), 10, 16)
	if err != nil {
		t.Fatalf("listen helper printed %q", line)
	}
	return helperProc{cmd: cmd, port: uint16(port)}
}

// gatherHere takes a snapshot of this network namespace.
func gatherHere(o Options) (*model.Snapshot, error) {
	m, err := Snapshot(o)
	if err != nil {
		return nil, err
	}
	return m.Namespaces[0].Snapshot, nil
}

// gather takes a snapshot or fails the test.
func gather(t *testing.T, opts Options) *model.Snapshot {
	t.Helper()
	snap, err := gatherHere(opts)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return snap
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// dup duplicates fd (close-on-exec cleared by exec.Cmd.ExtraFiles' handling).
func dup(t *testing.T, fd int) int {
	t.Helper()
	n, err := unix.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
