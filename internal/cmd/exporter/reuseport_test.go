package exporter

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/nstest"
)

// In a real SO_REUSEPORT group of three where one member stopped accepting,
// the summed series look a third full while reuseport_max_fill shows the
// stuck member full.
func TestReuseportStuckMember(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	const backlog = 4
	stuck, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), backlog, nstest.ListenOpts{Reuseport: true})
	var draining []int
	for i := 0; i < 2; i++ {
		fd, _ := nstest.Listen(t, ep, backlog, nstest.ListenOpts{Reuseport: true})
		if err := unix.SetNonblock(fd, true); err != nil {
			t.Fatal(err)
		}
		draining = append(draining, fd)
	}
	drain := func() {
		for _, fd := range draining {
			for {
				nfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
				if err != nil {
					break
				}
				t.Cleanup(func() { unix.Close(nfd) })
			}
		}
	}
	stuckFull := func() bool {
		ls, err := inspect.Listeners(nil, []uint16{ep.Port()})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			if l.Inode == listenerInode(t, stuck) {
				return l.AcceptQueue == backlog+1
			}
		}
		t.Fatal("the stuck member is not in the dump")
		return false
	}
	for i := 0; i < 200 && !stuckFull(); i++ {
		nstest.Connect(t, ep)
		drain()
	}
	nstest.Eventually(t, 10*time.Second, "the stuck member to fill while its siblings drain", func() bool {
		drain()
		return stuckFull()
	})
	drain()
	h, err := newOpts().Handler()
	if err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, h)
	labels := map[string]string{"address": "127.0.0.1", "port": fmt.Sprint(ep.Port())}
	queue := value(t, fams, "backlogctl_listener_accept_queue", labels)
	backlogs := value(t, fams, "backlogctl_listener_backlog", labels)
	if summed := queue / (backlogs + 3); summed > 0.5 {
		t.Fatalf("summed fill %v: the siblings were not drained (queue %v of %v)", summed, queue, backlogs)
	}
	if got := value(t, fams, "backlogctl_listener_reuseport_max_fill", labels); got != 1 {
		t.Errorf("reuseport_max_fill = %v, want 1 (the stuck member is full)", got)
	}
}

// listenerInode is the socket inode behind fd.
func listenerInode(t *testing.T, fd int) uint32 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return uint32(st.Ino)
}
