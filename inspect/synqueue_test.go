package inspect

import (
	"net/netip"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
)

// With the handshake's final ACK dropped to one port, N connects leave N
// request sockets on that listener and none on the others; completed
// connections on another port count in its accept queue, not its SYN queue.
func TestSynQueuePerListener(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	// Keep N below the backlog: a full SYN queue turns into syncookies, which
	// leave no request socket.
	const n = 5
	_, stalled := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 64, nstest.ListenOpts{})
	_, open := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 64, nstest.ListenOpts{})
	_, idle := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 64, nstest.ListenOpts{})
	dropFinalACK(t, stalled.Port())
	for i := 0; i < n; i++ {
		nstest.Connect(t, stalled)
	}
	for i := 0; i < 3; i++ {
		nstest.Connect(t, open)
	}
	var snap *model.Snapshot
	nstest.Eventually(t, 5*time.Second, "5 half-open and 3 completed handshakes", func() bool {
		snap = gather(t)
		return nstest.FindListener(t, snap.Listeners, stalled.Port()).SynQueue == n &&
			nstest.FindListener(t, snap.Listeners, open.Port()).AcceptQueue == 3
	})
	for _, c := range []struct {
		ep                  netip.AddrPort
		synQueue, acceptQue uint32
	}{
		{stalled, n, 0},
		{open, 0, 3},
		{idle, 0, 0},
	} {
		l := nstest.FindListener(t, snap.Listeners, c.ep.Port())
		if l.SynQueue != c.synQueue || l.AcceptQueue != c.acceptQue {
			t.Errorf("%s: syn_queue %d accept_queue %d, want %d and %d", c.ep, l.SynQueue, l.AcceptQueue, c.synQueue, c.acceptQue)
		}
		if l.SynQueueShared || l.ReuseportGroup != 0 {
			t.Errorf("%s: a lone listener reported as a reuseport group: %+v", c.ep, l)
		}
	}
}

// Request sockets to 127.0.0.1 belong to a 0.0.0.0 listener; an IPv4
// handshake to a dual-stack [::] listener is reported by the kernel as an
// AF_INET6 request on ::ffff:127.0.0.1 and belongs to that listener; a
// v4-mapped listener wins over a 0.0.0.0 one on the same port.
func TestSynQueueWildcardAttribution(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	rp := nstest.ListenOpts{Reuseport: true}
	_, wild4 := nstest.Listen(t, netip.MustParseAddrPort("0.0.0.0:0"), 64, nstest.ListenOpts{})
	_, dual := nstest.Listen(t, netip.MustParseAddrPort("[::]:0"), 64, nstest.ListenOpts{})
	_, v6only := nstest.Listen(t, netip.MustParseAddrPort("[::]:0"), 64, nstest.ListenOpts{V6Only: true})
	// Same port: 0.0.0.0 (IPv4) and ::ffff:127.0.0.1 (IPv6); the kernel's
	// lookup takes the exact address first, so 127.0.0.1 goes to the IPv6 one.
	_, mixed4 := nstest.Listen(t, netip.MustParseAddrPort("0.0.0.0:0"), 64, rp)
	_, mapped := nstest.Listen(t, netip.AddrPortFrom(netip.MustParseAddr("::ffff:127.0.0.1"), mixed4.Port()), 64, rp)
	dropFinalACK(t, wild4.Port(), dual.Port(), v6only.Port(), mixed4.Port())

	lo4 := netip.MustParseAddr("127.0.0.1")
	lo6 := netip.MustParseAddr("::1")
	connects := []netip.AddrPort{
		netip.AddrPortFrom(lo4, wild4.Port()),
		netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), wild4.Port()),
		netip.AddrPortFrom(lo4, dual.Port()),
		netip.AddrPortFrom(lo4, dual.Port()),
		netip.AddrPortFrom(lo6, dual.Port()),
		netip.AddrPortFrom(lo6, v6only.Port()),
		netip.AddrPortFrom(lo4, mixed4.Port()),
	}
	for _, ep := range connects {
		nstest.Connect(t, ep)
	}
	want := map[netip.AddrPort]uint32{
		wild4:  2,
		dual:   3,
		v6only: 1,
		mixed4: 0,
		mapped: 1,
	}
	var snap *model.Snapshot
	total := func() (sum uint32) {
		for _, l := range snap.Listeners {
			sum += l.SynQueue
		}
		return sum
	}
	nstest.Eventually(t, 5*time.Second, "7 request sockets to be attributed", func() bool {
		snap = gather(t)
		return total() == uint32(len(connects))
	})
	for ep, n := range want {
		ls := findEndpoint(snap.Listeners, ep)
		if len(ls) != 1 {
			t.Fatalf("%s: %d listeners, want 1: %+v", ep, len(ls), snap.Listeners)
		}
		if ls[0].SynQueue != n {
			t.Errorf("%s (%s): syn_queue %d, want %d", ep, ls[0].Family, ls[0].SynQueue, n)
		}
	}
	d := findEndpoint(snap.Listeners, dual)[0]
	if d.Family != "ipv6" || d.Address != "::" || d.V6Only == nil || *d.V6Only {
		t.Errorf("dual-stack listener: family %q address %q v6only %v, want ipv6 :: false", d.Family, d.Address, d.V6Only)
	}
	if v := findEndpoint(snap.Listeners, v6only)[0].V6Only; v == nil || !*v {
		t.Errorf("v6only listener: v6only %v, want true", v)
	}
	if w := findEndpoint(snap.Listeners, wild4)[0]; w.Family != "ipv4" || w.Address != "0.0.0.0" || w.V6Only != nil {
		t.Errorf("IPv4 wildcard: family %q address %q v6only %v, want ipv4 0.0.0.0 and no v6only", w.Family, w.Address, w.V6Only)
	}
}
