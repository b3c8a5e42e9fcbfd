package inspect

import (
	"net"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
)

// IPv6 and dual-stack listeners are dumped with their queues; two
// SO_REUSEPORT sockets on one endpoint form a numbered group whose SYN queue
// is the group's total, and a lone listener on another port is not grouped.
func TestFamiliesAndReuseportGroups(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	_, v6 := nstest.Listen(t, netip.MustParseAddrPort("[::1]:0"), 20, nstest.ListenOpts{V6Only: true})
	_, dual := nstest.Listen(t, netip.MustParseAddrPort("[::]:0"), 30, nstest.ListenOpts{})
	rp := nstest.ListenOpts{Reuseport: true}
	_, g1 := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 40, rp)
	nstest.Listen(t, g1, 50, rp)
	// A second group on the same port but another family stays apart.
	_, g6 := nstest.Listen(t, netip.AddrPortFrom(netip.MustParseAddr("::1"), g1.Port()), 60, nstest.ListenOpts{Reuseport: true, V6Only: true})
	nstest.Listen(t, g6, 60, nstest.ListenOpts{Reuseport: true, V6Only: true})
	dropFinalACK(t, g1.Port())

	for i := 0; i < 2; i++ {
		nstest.Connect(t, v6)
	}
	for _, a := range []string{"127.0.0.1", "::1", "127.0.0.3"} {
		nstest.Connect(t, netip.AddrPortFrom(netip.MustParseAddr(a), dual.Port()))
	}
	for i := 0; i < 4; i++ {
		nstest.Connect(t, g1)
	}
	nstest.Connect(t, g6)

	var snap *model.Snapshot
	nstest.Eventually(t, 5*time.Second, "queues to settle", func() bool {
		snap = gather(t)
		return nstest.FindListener(t, snap.Listeners, v6.Port()).AcceptQueue == 2 &&
			nstest.FindListener(t, snap.Listeners, dual.Port()).AcceptQueue == 3 &&
			findEndpoint(snap.Listeners, g1)[0].SynQueue == 4 &&
			findEndpoint(snap.Listeners, g6)[0].SynQueue == 1
	})

	l6 := nstest.FindListener(t, snap.Listeners, v6.Port())
	if l6.Family != "ipv6" || l6.Address != "::1" || l6.AcceptQueueMax != 20 || l6.Endpoint() != v6.String() {
		t.Errorf("[::1] listener = %+v", l6)
	}
	ld := nstest.FindListener(t, snap.Listeners, dual.Port())
	if ld.Address != "::" || ld.AcceptQueueMax != 30 || ld.V6Only == nil || *ld.V6Only {
		t.Errorf("dual-stack listener = %+v", ld)
	}

	group := findEndpoint(snap.Listeners, g1)
	if len(group) != 2 {
		t.Fatalf("127.0.0.1:%d: %d listeners, want a group of 2", g1.Port(), len(group))
	}
	backlogs := map[uint32]bool{}
	for _, l := range group {
		backlogs[l.AcceptQueueMax] = true
		if l.ReuseportSize != 2 || l.ReuseportGroup == 0 || l.ReuseportGroup != group[0].ReuseportGroup {
			t.Errorf("group member %d: reuseport_group %d size %d", l.Inode, l.ReuseportGroup, l.ReuseportSize)
		}
		if l.SynQueue != 4 || !l.SynQueueShared {
			t.Errorf("group member %d: syn_queue %d shared %v, want the group's 4, shared", l.Inode, l.SynQueue, l.SynQueueShared)
		}
	}
	if !backlogs[40] || !backlogs[50] {
		t.Errorf("group members' backlogs %v, want 40 and 50", backlogs)
	}
	if group[0].Inode == group[1].Inode {
		t.Errorf("group members share inode %d", group[0].Inode)
	}
	group6 := findEndpoint(snap.Listeners, g6)
	if len(group6) != 2 || group6[0].ReuseportGroup == group[0].ReuseportGroup || group6[0].ReuseportSize != 2 {
		t.Errorf("[::1]:%d group = %+v, want a second group of 2", g6.Port(), group6)
	}
	for _, l := range group6 {
		if l.SynQueue != 1 {
			t.Errorf("[::1]:%d member: syn_queue %d, want 1", g6.Port(), l.SynQueue)
		}
	}
	if l6.ReuseportGroup != 0 || ld.ReuseportGroup != 0 {
		t.Errorf("lone listeners grouped: %d, %d", l6.ReuseportGroup, ld.ReuseportGroup)
	}
}

// --port keeps only the listeners (and request sockets) on those ports.
func TestPortFilter(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	var eps []netip.AddrPort
	for _, a := range []string{"127.0.0.1:0", "[::1]:0", "127.0.0.1:0"} {
		_, ep := nstest.Listen(t, netip.MustParseAddrPort(a), 8, nstest.ListenOpts{})
		eps = append(eps, ep)
	}
	ls, err := Listeners(nil, []uint16{eps[0].Port(), eps[1].Port()})
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint16]bool{}
	for _, l := range ls {
		got[l.Port] = true
	}
	if len(ls) != 2 || !got[eps[0].Port()] || !got[eps[1].Port()] {
		t.Errorf("--port %d,%d gave %+v", eps[0].Port(), eps[1].Port(), ls)
	}
	none, err := Listeners(nil, []uint16{1})
	if err != nil {
		t.Fatal(err)
	}
	if none == nil || len(none) != 0 {
		t.Errorf("no match: got %#v, want an empty non-nil slice", none)
	}
}

// listenOnDevice opens an IPv4 listener bound to a device with
// SO_BINDTODEVICE and returns its endpoint.
func listenOnDevice(t *testing.T, ep netip.AddrPort, device string) netip.AddrPort {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, device); err != nil {
		t.Fatalf("SO_BINDTODEVICE %s: %v", device, err)
	}
	if err := unix.Bind(fd, nstest.Sockaddr(ep)); err != nil {
		t.Fatalf("bind %s on %s: %v", ep, device, err)
	}
	if err := unix.Listen(fd, 16); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return netip.AddrPortFrom(ep.Addr(), uint16(sa.(*unix.SockaddrInet4).Port))
}

// Listeners on one address and port bound to different devices are told
// apart (not an SO_REUSEPORT group), and loopback handshakes count only on
// the one bound to lo.
func TestDeviceBoundListeners(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	if out, err := exec.Command("ip", "link", "add", "bl0", "type", "veth", "peer", "name", "bl1").CombinedOutput(); err != nil {
		t.Fatalf("creating a veth pair in the test namespace: %v\n%s", err, out)
	}
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	veth, err := net.InterfaceByName("bl0")
	if err != nil {
		t.Fatal(err)
	}
	ep := listenOnDevice(t, netip.MustParseAddrPort("0.0.0.0:0"), "lo")
	listenOnDevice(t, ep, "bl0")
	dropFinalACK(t, ep.Port())
	for i := 0; i < 2; i++ {
		nstest.Connect(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ep.Port()))
	}
	var ls []model.Listener
	nstest.Eventually(t, 5*time.Second, "two request sockets", func() bool {
		ls = findEndpoint(gather(t, ep.Port()).Listeners, ep)
		return len(ls) == 2 && ls[0].SynQueue+ls[1].SynQueue == 2
	})
	byDev := map[uint32]model.Listener{}
	for _, l := range ls {
		byDev[l.BoundIfindex] = l
		if l.ReuseportGroup != 0 || l.SynQueueShared {
			t.Errorf("device-bound listener %d reported as a reuseport group", l.Inode)
		}
	}
	if l, ok := byDev[uint32(lo.Index)]; !ok || l.SynQueue != 2 {
		t.Errorf("listener on lo (%d) = %+v, want syn_queue 2", lo.Index, l)
	}
	if l, ok := byDev[uint32(veth.Index)]; !ok || l.SynQueue != 0 {
		t.Errorf("listener on bl0 (%d) = %+v, want syn_queue 0", veth.Index, l)
	}
}

// Thousands of listeners take many netlink datagrams to dump: none is lost
// or repeated.
func TestManyListeners(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	const n = 3000
	want := map[uint16]bool{}
	for i := 0; i < n; i++ {
		addr := "127.0.0.1:0"
		if i%2 == 1 {
			addr = "[::1]:0"
		}
		_, ep := nstest.Listen(t, netip.MustParseAddrPort(addr), 1, nstest.ListenOpts{})
		want[ep.Port()] = true
	}
	ls, err := Listeners(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint32]bool{}
	for _, l := range ls {
		if seen[l.Inode] {
			t.Fatalf("inode %d listed twice", l.Inode)
		}
		seen[l.Inode] = true
		if !want[l.Port] {
			t.Errorf("unexpected listener %s", l.Endpoint())
		}
	}
	if len(ls) != n {
		t.Errorf("%d listeners, want %d", len(ls), n)
	}
}
