package nstest

import (
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/netns"
	"github.com/backlogctl/backlogctl/sysctl"
)

// PrepareNetns sets somaxconn inside the network namespace at path and, when
// backlog > 0, opens a listener on 127.0.0.1 there with listen(backlog),
// closed when the test ends. It returns the listener's port (0 without one).
// Errors are returned from inside the namespace, never raised there, so the
// thread always leaves it.
func PrepareNetns(t testing.TB, path string, somaxconn, backlog int) uint16 {
	t.Helper()
	var port uint16
	err := netns.Do(path, func() error {
		if err := sysctl.NewFS("").Write("net.core.somaxconn", strconv.Itoa(somaxconn)); err != nil {
			return err
		}
		if backlog == 0 {
			return nil
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		t.Cleanup(func() { unix.Close(fd) })
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			return err
		}
		if err := unix.Listen(fd, backlog); err != nil {
			return err
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			return err
		}
		port = uint16(sa.(*unix.SockaddrInet4).Port)
		return nil
	})
	if err != nil {
		t.Fatalf("preparing namespace %s: %v", path, err)
	}
	return port
}

// SysctlIn reads a tunable inside the network namespace at path, on a
// thread that entered it (/proc/sys/net follows the reading thread's
// namespace).
func SysctlIn(t testing.TB, path, key string) string {
	t.Helper()
	var v string
	if err := netns.Do(path, func() (err error) { v, err = sysctl.NewFS("").ReadString(key); return err }); err != nil {
		t.Fatalf("reading %s in %s: %v", key, path, err)
	}
	return v
}
