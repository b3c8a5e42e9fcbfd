package inspect

import (
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
)

// fastOpen sends data in the SYN (MSG_FASTOPEN) and returns the descriptor.
func fastOpen(t *testing.T, ep netip.AddrPort, blocking bool) int {
	t.Helper()
	flags := unix.SOCK_STREAM | unix.SOCK_CLOEXEC
	if !blocking {
		flags |= unix.SOCK_NONBLOCK
	}
	fd, err := unix.Socket(unix.AF_INET, flags, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Sendto(fd, []byte("hello"), unix.MSG_FASTOPEN, nstest.Sockaddr(ep)); err != nil && err != unix.EINPROGRESS {
		t.Fatalf("sendto MSG_FASTOPEN %s: %v", ep, err)
	}
	return fd
}

// A TCP Fast Open handshake whose final ACK is lost leaves a full socket in
// SYN-RECV that is already in the accept queue: it counts there, not in the
// SYN queue, while ordinary half-open handshakes still do.
func TestFastOpenChildrenAreNotSynQueue(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	nstest.SetSysctl(t, "net.ipv4.tcp_fastopen", 3) // client and server
	fd, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 16, nstest.ListenOpts{})
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_FASTOPEN, 16); err != nil {
		t.Fatalf("TCP_FASTOPEN: %v", err)
	}
	// The first connection fetches a cookie; accept it to empty the queue.
	fastOpen(t, ep, true)
	nfd, _, err := unix.Accept(fd)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(nfd)

	dropFinalACK(t, ep.Port())
	for i := 0; i < 3; i++ {
		fastOpen(t, ep, false)
	}
	for i := 0; i < 2; i++ {
		nstest.Connect(t, ep) // no data: an ordinary request socket
	}
	var l model.Listener
	nstest.Eventually(t, 5*time.Second, "3 Fast Open children and 2 requests", func() bool {
		l = nstest.FindListener(t, gather(t, ep.Port()).Listeners, ep.Port())
		return l.AcceptQueue == 3
	})
	// Give the requests the same chance to show up, then compare.
	nstest.Eventually(t, 5*time.Second, "2 request sockets", func() bool {
		l = nstest.FindListener(t, gather(t, ep.Port()).Listeners, ep.Port())
		return l.SynQueue >= 2
	})
	if l.SynQueue != 2 || l.AcceptQueue != 3 {
		t.Errorf("syn_queue %d accept_queue %d, want 2 and 3 (Fast Open children are in the accept queue only)", l.SynQueue, l.AcceptQueue)
	}
}
