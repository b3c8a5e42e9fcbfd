package inspect

import (
	"cmp"
	"net/netip"
	"slices"

	"golang.org/x/sys/unix"
)

// Listener is one listening TCP socket and what its queues are doing.
type Listener struct {
	// Family is "ipv4" or "ipv6".
	Family  string `json:"family"`
	Address string `json:"address"`
	Port    uint16 `json:"port"`
	// AcceptQueue is completed handshakes waiting for accept() (sk_ack_backlog).
	AcceptQueue uint32 `json:"accept_queue"`
	// AcceptQueueMax is the effective backlog, min(listen backlog, somaxconn)
	// at the time listen() was called (sk_max_ack_backlog).
	AcceptQueueMax uint32 `json:"accept_queue_max"`
	// Fill is AcceptQueue / (AcceptQueueMax+1): the kernel's queue is full
	// when it holds backlog+1 (sk_acceptq_is_full uses >), so 1.0 means full.
	Fill float64 `json:"fill"`
	// SynQueue counts half-open request sockets for this listener. For a
	// member of an SO_REUSEPORT group it is the group's count (SynQueueShared).
	SynQueue       uint32 `json:"syn_queue"`
	SynQueueShared bool   `json:"syn_queue_shared,omitempty"`
	// Drops is the listener's own drop count (SK_MEMINFO_DROPS), cumulative
	// since the socket was created; absent on kernels before 4.7.
	Drops *uint32 `json:"drops,omitempty"`
	Inode uint32  `json:"inode"`
	// Cookie is the socket cookie: unique on the host while it runs, and
	// what backlogctl trace keys its eBPF evidence by.
	Cookie uint64 `json:"cookie"`
	UID    uint32 `json:"uid"`
	// V6Only is reported for IPv6 listeners: false means dual-stack.
	V6Only *bool `json:"v6only,omitempty"`
	// BoundIfindex is the device the listener is bound to (SO_BINDTODEVICE),
	// omitted when unbound. Listeners on one address and port but different
	// devices are separate, not an SO_REUSEPORT group.
	BoundIfindex uint32 `json:"bound_ifindex,omitempty"`
	// ReuseportGroup numbers the SO_REUSEPORT group (same family, address,
	// port, device and v6only) this listener belongs to, from 1; 0 when alone.
	ReuseportGroup int `json:"reuseport_group,omitempty"`
	ReuseportSize  int `json:"reuseport_size,omitempty"`
	// Processes hold the socket; empty when attribution was skipped or denied.
	Processes []Process `json:"processes"`
	// OwnersPending is set by an OwnerCache while this listener's owners are
	// still being looked up: Processes is empty because they are not known
	// yet, not because there are none.
	OwnersPending bool `json:"-"`

	addr netip.Addr
}

// Endpoint is "address:port", with IPv6 addresses in brackets.
func (l Listener) Endpoint() string {
	return netip.AddrPortFrom(l.addr, l.Port).String()
}

// DropCount is Drops, or 0 where the kernel does not report it.
func (l Listener) DropCount() uint32 {
	if l.Drops == nil {
		return 0
	}
	return *l.Drops
}

// fill computes Listener.Fill.
func fill(queue, max uint32) float64 {
	return float64(queue) / (float64(max) + 1)
}

func familyName(f uint8) string {
	if f == unix.AF_INET6 {
		return "ipv6"
	}
	return "ipv4"
}

// request is a request socket (half-open connection) from the dump.
type request struct {
	// family is the owning listener's: inet_reqsk_alloc copies sk_listener->sk_family,
	// so an IPv4 handshake to a dual-stack [::] listener is AF_INET6, ::ffff:a.b.c.d.
	family  uint8
	local   netip.AddrPort
	ifindex uint32
}

// listenerSet accumulates a dump's listeners and request sockets.
type listenerSet struct {
	listeners []Listener
	requests  []request
	ports     map[uint16]bool // when non-nil, keep only these ports
}

func (s *listenerSet) reset() {
	s.listeners = s.listeners[:0]
	s.requests = s.requests[:0]
}

func (s *listenerSet) add(d *DiagSocket) {
	if s.ports != nil && !s.ports[d.LocalPort] {
		return
	}
	switch d.State {
	case stateListen:
		l := newListener(d, d.Local.String())
		if d.HasDrops {
			drops := d.Drops
			l.Drops = &drops
		}
		if d.V6Only >= 0 {
			v6only := d.V6Only == 1
			l.V6Only = &v6only
		}
		s.listeners = append(s.listeners, l)
	case stateSynRecv:
		if r, ok := requestOf(d); ok {
			s.requests = append(s.requests, r)
		}
	}
}

// newListener is a listening socket from the dump, without its Drops and
// V6Only (pointers the caller allocates) and its groups.
func newListener(d *DiagSocket, address string) Listener {
	return Listener{
		Family:         familyName(d.Family),
		Address:        address,
		addr:           d.Local,
		Port:           d.LocalPort,
		AcceptQueue:    d.RQueue,
		AcceptQueueMax: d.WQueue,
		Fill:           fill(d.RQueue, d.WQueue),
		Inode:          d.Inode,
		Cookie:         d.Cookie,
		UID:            d.UID,
		BoundIfindex:   d.IfIndex,
		Processes:      []Process{},
	}
}

// requestOf is the request socket d, if d is one. A full socket in SYN-RECV
// is a TCP Fast Open child, already in the accept queue; only request
// sockets (which inet_req_diag_fill sends without INET_DIAG_SKMEMINFO) make
// up the SYN queue.
func requestOf(d *DiagSocket) (request, bool) {
	if d.State != stateSynRecv || d.HasDrops {
		return request{}, false
	}
	return request{d.Family, netip.AddrPortFrom(d.Local, d.LocalPort), d.IfIndex}, true
}

// finish sorts the listeners, numbers SO_REUSEPORT groups and attributes
// request sockets to listeners the way the kernel's lookup did: a request has
// its listener's family; within it, an exact local address first, then the
// wildcard (for an IPv4-mapped address, only a dual-stack one).
func (s *listenerSet) finish() []Listener {
	ls := s.listeners
	if ls == nil {
		ls = []Listener{} // JSON "listeners": [], never null
	}
	slices.SortFunc(ls, func(a, b Listener) int {
		return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.Family, b.Family),
			a.addr.Compare(b.addr), cmp.Compare(a.Inode, b.Inode))
	})
	groups := map[groupKey][]int{}
	for i := range ls {
		k := keyOf(ls[i])
		groups[k] = append(groups[k], i)
	}
	next := 1
	for i := range ls {
		members := groups[keyOf(ls[i])]
		if len(members) > 1 && members[0] == i {
			for _, m := range members {
				ls[m].ReuseportGroup = next
				ls[m].ReuseportSize = len(members)
				ls[m].SynQueueShared = true
			}
			next++
		}
	}
	counts := map[int]uint32{} // first member index -> requests
	for _, r := range s.requests {
		if m := owner(groups, r); m != nil {
			counts[m[0]]++
		}
	}
	for first, n := range counts {
		for _, i := range groups[keyOf(ls[first])] {
			ls[i].SynQueue = n
		}
	}
	return ls
}

// groupKey is what the sockets of one SO_REUSEPORT group share
// (inet_reuseport_add_sock: family, v6only, bound device; and the address).
type groupKey struct {
	family  string
	addr    netip.Addr
	port    uint16
	ifindex uint32
	v6only  bool
}

func keyOf(l Listener) groupKey {
	return groupKey{l.Family, l.addr, l.Port, l.BoundIfindex, l.V6Only != nil && *l.V6Only}
}

// owner finds the listener group a request socket belongs to, or nil, the
// way __inet_lookup_listener / inet6_lookup_listener chose it: the exact
// address before the wildcard, and within each a listener bound to the
// request's device before an unbound one. A request has its listener's
// family; an IPv4-mapped one can only belong to a dual-stack wildcard.
func owner(groups map[groupKey][]int, r request) []int {
	addr, port := r.local.Addr(), r.local.Port()
	family, wildcard := "ipv4", netip.IPv4Unspecified()
	v6only := []bool{false}
	if r.family == unix.AF_INET6 {
		family, wildcard = "ipv6", netip.IPv6Unspecified()
		if !addr.Is4In6() {
			v6only = []bool{false, true}
		}
	}
	devices := []uint32{r.ifindex}
	if r.ifindex != 0 {
		devices = append(devices, 0)
	}
	for _, a := range []netip.Addr{addr, wildcard} {
		for _, dev := range devices {
			for _, only := range v6only {
				if m := groups[groupKey{family, a, port, dev, only}]; m != nil {
					return m
				}
			}
		}
	}
	return nil
}
