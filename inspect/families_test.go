package inspect

import (
	"net/netip"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
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

	var snap *Snapshot
	nstest.Eventually(t, 5*time.Second, "queues to settle", func() bool {
		snap = gather(t, Options{})
		return findListener(t, snap.Listeners, v6.Port()).AcceptQueue == 2 &&
			findListener(t, snap.Listeners, dual.Port()).AcceptQueue == 3 &&
			findEndpoint(snap.Listeners, g1)[0].SynQueue == 4 &&
			findEndpoint(snap.Listeners, g6)[0].SynQueue == 1
	})

	l6 := findListener(t, snap.Listeners, v6.Port())
	if l6.Family != "ipv6" || l6.Address != "::1" || l6.AcceptQueueMax != 20 || l6.Endpoint() != v6.String() {
		t.Errorf("[::1] listener = %+v", l6)
	}
	ld := findListener(t, snap.Listeners, dual.Port())
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
	ls, err := Listeners(Options{Ports: []uint16{eps[0].Port(), eps[1].Port()}})
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
	none, err := Listeners(Options{Ports: []uint16{1}})
	if err != nil {
		t.Fatal(err)
	}
	if none == nil || len(none) != 0 {
		t.Errorf("no match: got %#v, want an empty non-nil slice", none)
	}
}
