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
	UID   uint32  `json:"uid"`
	// V6Only is reported for IPv6 listeners: false means dual-stack.
	V6Only *bool `json:"v6only,omitempty"`
	// ReuseportGroup numbers the SO_REUSEPORT group (same family, address and
	// port) this listener belongs to, from 1; 0 when it is alone.
	ReuseportGroup int `json:"reuseport_group,omitempty"`
	ReuseportSize  int `json:"reuseport_size,omitempty"`
	// Processes hold the socket; empty when attribution was skipped or denied.
	Processes []Process `json:"processes"`

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
	family uint8
	local  netip.AddrPort
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
		l := Listener{
			Family:         familyName(d.Family),
			addr:           d.Local,
			Port:           d.LocalPort,
			AcceptQueue:    d.RQueue,
			AcceptQueueMax: d.WQueue,
			Fill:           fill(d.RQueue, d.WQueue),
			Inode:          d.Inode,
			UID:            d.UID,
			Processes:      []Process{},
		}
		l.Address = l.addr.String()
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
		s.requests = append(s.requests, request{d.Family, netip.AddrPortFrom(d.Local, d.LocalPort)})
	}
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
	type key struct {
		family string
		addr   netip.Addr
		port   uint16
	}
	groups := map[key][]int{}
	for i := range ls {
		k := key{ls[i].Family, ls[i].addr, ls[i].Port}
		groups[k] = append(groups[k], i)
	}
	next := 1
	for i := range ls {
		members := groups[key{ls[i].Family, ls[i].addr, ls[i].Port}]
		if len(members) > 1 && members[0] == i {
			for _, m := range members {
				ls[m].ReuseportGroup = next
				ls[m].ReuseportSize = len(members)
				ls[m].SynQueueShared = true
			}
			next++
		}
	}
	lookup := func(family string, addr netip.Addr, port uint16) []int {
		return groups[key{family, addr, port}]
	}
	counts := map[int]uint32{} // first member index -> requests
	for _, r := range s.requests {
		m := owner(ls, lookup, r)
		if m != nil {
			counts[m[0]]++
		}
	}
	for first, n := range counts {
		for _, i := range groups[key{ls[first].Family, ls[first].addr, ls[first].Port}] {
			ls[i].SynQueue = n
		}
	}
	return ls
}

// owner finds the listener group a request socket belongs to, or nil.
// __inet_lookup_listener / inet6_lookup_listener: exact address, then wildcard.
func owner(ls []Listener, lookup func(string, netip.Addr, uint16) []int, r request) []int {
	addr, port := r.local.Addr(), r.local.Port()
	if r.family == unix.AF_INET {
		if m := lookup("ipv4", addr, port); m != nil {
			return m
		}
		return lookup("ipv4", netip.IPv4Unspecified(), port)
	}
	if m := lookup("ipv6", addr, port); m != nil {
		return m
	}
	wild := lookup("ipv6", netip.IPv6Unspecified(), port)
	if addr.Is4In6() {
		return dualStack(ls, wild)
	}
	return wild
}

// dualStack keeps an IPv6 wildcard group only if it accepts IPv4 traffic.
func dualStack(ls []Listener, members []int) []int {
	if members == nil {
		return nil
	}
	if v := ls[members[0]].V6Only; v != nil && *v {
		return nil
	}
	return members
}
