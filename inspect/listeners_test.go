package inspect

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// sock builds a dumped socket for listenerSet tests.
func sock(family, state uint8, ep string, inode uint32, v6only int8) *DiagSocket {
	ap := netip.MustParseAddrPort(ep)
	return &DiagSocket{Family: family, State: state, Local: ap.Addr(), LocalPort: ap.Port(),
		Inode: inode, WQueue: 8, V6Only: v6only}
}

func listen4(ep string, inode uint32) *DiagSocket {
	return sock(unix.AF_INET, stateListen, ep, inode, -1)
}

func listen6(ep string, inode uint32, v6only bool) *DiagSocket {
	v := int8(0)
	if v6only {
		v = 1
	}
	return sock(unix.AF_INET6, stateListen, ep, inode, v)
}

func req4(ep string) *DiagSocket { return sock(unix.AF_INET, stateSynRecv, ep, 0, -1) }
func req6(ep string) *DiagSocket { return sock(unix.AF_INET6, stateSynRecv, ep, 0, -1) }

// TestListenerSetAttribution checks SYN-queue attribution and SO_REUSEPORT
// grouping on synthetic dumps; the integration tests check the same against
// the kernel's own reports.
func TestListenerSetAttribution(t *testing.T) {
	type row struct {
		Inode    uint32
		SynQueue uint32
		Group    int
		Size     int
		Shared   bool
	}
	tests := []struct {
		name  string
		socks []*DiagSocket
		ports map[uint16]bool
		want  []row // in output order
	}{
		{
			name: "exact address beats the wildcard",
			socks: []*DiagSocket{
				listen4("0.0.0.0:80", 1), listen4("127.0.0.1:80", 2),
				req4("127.0.0.1:80"), req4("127.0.0.1:80"), req4("10.0.0.1:80"),
			},
			want: []row{{Inode: 1, SynQueue: 1}, {Inode: 2, SynQueue: 2}},
		},
		{
			name: "v4-mapped request: exact mapped listener, then dual-stack [::], never v6only [::] or 0.0.0.0",
			socks: []*DiagSocket{
				listen4("0.0.0.0:80", 1), listen6("[::ffff:127.0.0.1]:80", 2, false),
				listen6("[::]:81", 3, true),
				listen6("[::]:82", 4, false),
				req6("[::ffff:127.0.0.1]:80"), req6("[::ffff:127.0.0.1]:81"), req6("[::ffff:10.0.0.1]:82"),
			},
			want: []row{{Inode: 1}, {Inode: 2, SynQueue: 1}, {Inode: 3}, {Inode: 4, SynQueue: 1}},
		},
		{
			name: "native IPv6 to a v6only wildcard; IPv4 request never goes to IPv6",
			socks: []*DiagSocket{
				listen6("[::]:80", 1, true), req6("[::1]:80"), req6("[2001:db8::1]:80"), req4("127.0.0.1:80"),
			},
			want: []row{{Inode: 1, SynQueue: 2}},
		},
		{
			name: "reuseport groups per family, address and port; counts shared",
			socks: []*DiagSocket{
				listen4("127.0.0.1:80", 7), listen4("127.0.0.1:80", 5), listen6("[::1]:80", 9, true), listen6("[::1]:80", 8, true),
				listen4("127.0.0.1:81", 6),
				req4("127.0.0.1:80"), req4("127.0.0.1:80"), req4("127.0.0.1:80"), req6("[::1]:80"),
			},
			want: []row{
				{Inode: 5, SynQueue: 3, Group: 1, Size: 2, Shared: true},
				{Inode: 7, SynQueue: 3, Group: 1, Size: 2, Shared: true},
				{Inode: 8, SynQueue: 1, Group: 2, Size: 2, Shared: true},
				{Inode: 9, SynQueue: 1, Group: 2, Size: 2, Shared: true},
				{Inode: 6},
			},
		},
		{
			name:  "requests with no listener (it closed) are dropped",
			socks: []*DiagSocket{listen4("127.0.0.1:80", 1), req4("127.0.0.1:90"), req6("[::1]:80")},
			want:  []row{{Inode: 1}},
		},
		{
			name:  "port filter",
			socks: []*DiagSocket{listen4("127.0.0.1:80", 1), listen4("127.0.0.1:81", 2), req4("127.0.0.1:80"), req4("127.0.0.1:81")},
			ports: map[uint16]bool{81: true},
			want:  []row{{Inode: 2, SynQueue: 1}},
		},
		{
			name: "a full socket in SYN-RECV (Fast Open child, carries meminfo) is not a request",
			socks: []*DiagSocket{
				listen4("127.0.0.1:80", 1), req4("127.0.0.1:80"),
				func() *DiagSocket { d := req4("127.0.0.1:80"); d.HasDrops = true; return d }(),
			},
			want: []row{{Inode: 1, SynQueue: 1}},
		},
		{name: "nothing", want: []row{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &listenerSet{ports: tt.ports}
			for _, d := range tt.socks {
				s.add(d)
			}
			ls := s.finish()
			if ls == nil {
				t.Fatal("finish returned nil; JSON would say null")
			}
			got := []row{}
			for _, l := range ls {
				got = append(got, row{l.Inode, l.SynQueue, l.ReuseportGroup, l.ReuseportSize, l.SynQueueShared})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestListenerFields(t *testing.T) {
	s := &listenerSet{}
	d := listen6("[::]:443", 10, false)
	d.RQueue, d.WQueue, d.UID, d.Drops, d.HasDrops = 3, 511, 33, 12, true
	s.add(d)
	d4 := listen4("0.0.0.0:0", 11)
	d4.RQueue, d4.WQueue = 1, 0 // listen(fd, 0): the queue still holds one
	s.add(d4)
	ls := s.finish()
	if len(ls) != 2 {
		t.Fatalf("got %d listeners", len(ls))
	}
	l4, l6 := ls[0], ls[1]
	if l6.Family != "ipv6" || l6.Address != "::" || l6.Endpoint() != "[::]:443" || l6.UID != 33 ||
		l6.AcceptQueue != 3 || l6.AcceptQueueMax != 511 || l6.Fill != 3.0/512 ||
		l6.DropCount() != 12 || l6.V6Only == nil || *l6.V6Only || l6.Processes == nil {
		t.Errorf("ipv6 listener = %+v", l6)
	}
	if l4.Fill != 1 || l4.Drops != nil || l4.DropCount() != 0 || l4.V6Only != nil || l4.Endpoint() != "0.0.0.0:0" {
		t.Errorf("ipv4 listener = %+v, want fill 1 and no drops or v6only", l4)
	}
}

func TestListenerSetDevicesAndV6Only(t *testing.T) {
	bound := func(d *DiagSocket, ifindex uint32) *DiagSocket { d.IfIndex = ifindex; return d }
	s := &listenerSet{}
	for _, d := range []*DiagSocket{
		// One address and port on two devices: two listeners, not a group.
		bound(listen4("0.0.0.0:80", 1), 1), bound(listen4("0.0.0.0:80", 2), 7), listen4("0.0.0.0:80", 3),
		bound(req4("127.0.0.1:80"), 1), bound(req4("10.0.0.1:80"), 7), bound(req4("10.0.0.1:80"), 7), req4("10.0.0.2:80"),
		// A request bound to a device with no listener of its own falls back to the unbound one.
		bound(req4("10.0.0.3:80"), 9),
		// v6only and dual-stack [::] on one port are separate groups; a v4-mapped
		// request goes to the dual-stack one.
		listen6("[::]:81", 4, true), listen6("[::]:81", 5, false), req6("[::ffff:10.0.0.1]:81"),
	} {
		s.add(d)
	}
	type row struct {
		Inode, SynQueue, Ifindex uint32
		Group                    int
	}
	var got []row
	for _, l := range s.finish() {
		got = append(got, row{l.Inode, l.SynQueue, l.BoundIfindex, l.ReuseportGroup})
	}
	want := []row{{1, 1, 1, 0}, {2, 2, 7, 0}, {3, 2, 0, 0}, {4, 0, 0, 0}, {5, 1, 0, 0}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
