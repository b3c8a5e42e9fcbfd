package nstest

import (
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/model"
)

// ListenOpts shape a raw listening socket.
type ListenOpts struct {
	Reuseport bool
	V6Only    bool
}

// Listen opens a TCP listener on addr:port (port 0 picks one) with the given
// listen() backlog, using raw syscalls so the backlog is exactly what the
// test asks for. It returns the descriptor and the bound endpoint; the
// descriptor is closed when the test ends.
func Listen(t testing.TB, addr netip.AddrPort, backlog int, o ListenOpts) (int, netip.AddrPort) {
	t.Helper()
	family := unix.AF_INET
	if addr.Addr().Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	must(t, "SO_REUSEADDR", unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1))
	if o.Reuseport {
		must(t, "SO_REUSEPORT", unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1))
	}
	if family == unix.AF_INET6 {
		v := 0
		if o.V6Only {
			v = 1
		}
		must(t, "IPV6_V6ONLY", unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v))
	}
	must(t, "bind "+addr.String(), unix.Bind(fd, Sockaddr(addr)))
	must(t, "listen", unix.Listen(fd, backlog))
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	return fd, fromSockaddr(sa)
}

// Connect starts a non-blocking connect to addr and returns the descriptor,
// closed when the test ends. The handshake completes (or not) in the kernel.
func Connect(t testing.TB, addr netip.AddrPort) int {
	t.Helper()
	family := unix.AF_INET
	if addr.Addr().Is6() && !addr.Addr().Is4In6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Connect(fd, Sockaddr(addr)); err != nil && err != unix.EINPROGRESS {
		t.Fatalf("connect %s: %v", addr, err)
	}
	return fd
}

// MinBackstop is the least time Eventually waits before it gives up: a
// deadline is a backstop against a condition that never comes, not a
// measure of how fast it comes, and a busy 2-core machine running the suite
// beside other builds can take many seconds for what takes milliseconds
// alone (a pyenv-shimmed python3 took over 10s to listen). A condition that
// holds returns at once, so passing tests are no slower.
const MinBackstop = 2 * time.Minute

// Eventually polls cond every 10ms until it holds or the backstop passes:
// timeout, or MinBackstop when that is longer.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	timeout = max(timeout, MinBackstop)
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Sockaddr converts an endpoint to a unix.Sockaddr.
func Sockaddr(a netip.AddrPort) unix.Sockaddr {
	if a.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(a.Port()), Addr: a.Addr().As16()}
}

func fromSockaddr(sa unix.Sockaddr) netip.AddrPort {
	switch s := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(s.Addr), uint16(s.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(s.Addr), uint16(s.Port))
	}
	return netip.AddrPort{}
}

func must(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// FindListener returns the listener on port or fails the test.
func FindListener(t testing.TB, ls []model.Listener, port uint16) model.Listener {
	t.Helper()
	for _, l := range ls {
		if l.Port == port {
			return l
		}
	}
	t.Fatalf("no listener on port %d in %+v", port, ls)
	return model.Listener{}
}
