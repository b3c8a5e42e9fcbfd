package inspect

import (
	"cmp"
	"net/netip"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/model"
)

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
	listeners []model.Listener
	requests  []request
	ports     map[uint16]bool // when non-nil, keep only these ports
	// socks are the dumped listening sockets, in chunks that never move,
	// until finish turns them into listeners: a one-shot dump of 9,000
	// listeners then allocates the []Listener once, at its final size,
	// instead of growing it by copying.
	socks [][]DiagSocket
	nsock int
}

// sockChunk is how many dumped sockets a chunk of listenerSet.socks holds.
const sockChunk = 1024

func (s *listenerSet) reset() {
	s.listeners = s.listeners[:0]
	s.requests = s.requests[:0]
	for i := range s.socks {
		s.socks[i] = s.socks[i][:0]
	}
	s.nsock = 0
}

func (s *listenerSet) add(d *DiagSocket) {
	if s.ports != nil && !s.ports[d.LocalPort] {
		return
	}
	switch d.State {
	case stateListen:
		c := s.nsock / sockChunk
		if c == len(s.socks) {
			s.socks = append(s.socks, make([]DiagSocket, 0, sockChunk))
		}
		s.socks[c] = append(s.socks[c], *d)
		s.nsock++
	case stateSynRecv:
		if r, ok := requestOf(d); ok {
			s.requests = append(s.requests, r)
		}
	}
}

// sock is the i-th dumped listening socket.
func (s *listenerSet) sock(i int32) *DiagSocket {
	return &s.socks[i/sockChunk][i%sockChunk]
}

// build appends the dumped sockets to s.listeners in the order finish sorts
// them, so that sort has nothing left to move: Listener is ~180 bytes, its
// index 4. Drops and V6Only point into two arrays allocated once, and each
// distinct address is formatted once.
func (s *listenerSet) build() {
	if s.nsock == 0 {
		return
	}
	order := make([]int32, s.nsock)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		da, db := s.sock(a), s.sock(b)
		// Family as finish compares it: "ipv4" < "ipv6" as AF_INET < AF_INET6.
		return cmp.Or(cmp.Compare(da.LocalPort, db.LocalPort), cmp.Compare(da.Family, db.Family),
			da.Local.Compare(db.Local), cmp.Compare(da.Inode, db.Inode))
	})
	drops := make([]uint32, s.nsock)
	v6only := make([]bool, s.nsock)
	addrs := addrCache{}
	ls := slices.Grow(s.listeners, s.nsock)
	for i, k := range order {
		ls = append(ls, listenerFrom(s.sock(k), addrs, &drops[i], &v6only[i]))
	}
	s.listeners = ls
	for i := range s.socks {
		s.socks[i] = s.socks[i][:0]
	}
	s.nsock = 0
}

// listenerFrom is the dumped listening socket d as a Listener, its Drops
// and V6Only (when the dump has them) stored in *drops and *v6only, its
// Address from addrs.
func listenerFrom(d *DiagSocket, addrs addrCache, drops *uint32, v6only *bool) model.Listener {
	l := newListener(d, addrs.text(d.Local))
	if d.HasDrops {
		*drops = d.Drops
		l.Drops = drops
	}
	if d.V6Only >= 0 {
		*v6only = d.V6Only == 1
		l.V6Only = v6only
	}
	return l
}

// addrCache holds the text of addresses: a host has few distinct listening
// addresses, so formatting each once saves a string per listener.
type addrCache map[netip.Addr]string

// maxCachedAddrs bounds an addrCache on a host whose addresses churn.
const maxCachedAddrs = 4096

func (c addrCache) text(a netip.Addr) string {
	t, ok := c[a]
	if !ok {
		if len(c) >= maxCachedAddrs {
			clear(c)
		}
		t = a.String()
		c[a] = t
	}
	return t
}

// newListener is a listening socket from the dump, without its Drops and
// V6Only (pointers the caller allocates) and its groups.
func newListener(d *DiagSocket, address string) model.Listener {
	return model.Listener{
		Family:         familyName(d.Family),
		Address:        address,
		Addr:           d.Local,
		Port:           d.LocalPort,
		AcceptQueue:    d.RQueue,
		AcceptQueueMax: d.WQueue,
		Fill:           model.Fill(d.RQueue, d.WQueue),
		Inode:          d.Inode,
		Cookie:         d.Cookie,
		UID:            d.UID,
		BoundIfindex:   d.IfIndex,
		Processes:      []model.Process{},
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
//
// The members of a group share family, address and port, so after the sort
// they lie in one run of listeners on the same endpoint; groups are found
// within runs, and requests by binary search, with no map or slice per
// listener.
func (s *listenerSet) finish() []model.Listener {
	s.build()
	ls := s.listeners
	if ls == nil {
		ls = []model.Listener{} // JSON "listeners": [], never null
	}
	slices.SortFunc(ls, func(a, b model.Listener) int {
		return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.Family, b.Family),
			a.Addr.Compare(b.Addr), cmp.Compare(a.Inode, b.Inode))
	})
	// first[i] is the index of the first member of i's group; size and syn
	// are counted at that index.
	scratch := make([]int32, 3*len(ls))
	first, size, syn := scratch[:len(ls)], scratch[len(ls):2*len(ls)], scratch[2*len(ls):]
	var leaders []int32
	for a := 0; a < len(ls); {
		b := a + 1
		for b < len(ls) && sameEndpoint(&ls[a], &ls[b]) {
			b++
		}
		leaders = leaders[:0]
		for i := a; i < b; i++ {
			first[i] = int32(i)
			for _, j := range leaders {
				if sameGroup(&ls[i], &ls[j]) {
					first[i] = j
					break
				}
			}
			if first[i] == int32(i) {
				leaders = append(leaders, int32(i))
			}
			size[first[i]]++
		}
		a = b
	}
	for _, r := range s.requests {
		if m := owner(ls, first, r); m >= 0 {
			syn[m]++
		}
	}
	next := 1
	for i := range ls {
		f := first[i]
		if n := int(size[f]); n > 1 {
			if f == int32(i) {
				ls[i].ReuseportGroup = next
				next++
			} else {
				ls[i].ReuseportGroup = ls[f].ReuseportGroup
			}
			ls[i].ReuseportSize = n
			ls[i].SynQueueShared = true
		}
		if syn[f] > 0 {
			ls[i].SynQueue = uint32(syn[f])
		}
	}
	return ls
}

// sameEndpoint reports whether a and b listen on one family, address and port.
func sameEndpoint(a, b *model.Listener) bool {
	return a.Port == b.Port && a.Family == b.Family && a.Addr == b.Addr
}

// sameGroup reports whether a and b, on one endpoint, are in one SO_REUSEPORT
// group (inet_reuseport_add_sock: family, v6only, bound device; and the address).
func sameGroup(a, b *model.Listener) bool {
	return a.BoundIfindex == b.BoundIfindex && v6onlyOf(a) == v6onlyOf(b)
}

func v6onlyOf(l *model.Listener) bool { return l.V6Only != nil && *l.V6Only }

// owner finds the first member of the listener group a request socket
// belongs to, or -1, the way __inet_lookup_listener / inet6_lookup_listener
// chose it: the exact address before the wildcard, and within each a
// listener bound to the request's device before an unbound one. A request
// has its listener's family; an IPv4-mapped one can only belong to a
// dual-stack wildcard.
func owner(ls []model.Listener, first []int32, r request) int32 {
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
		// The run of listeners on this endpoint, by binary search in sort order.
		lo, _ := slices.BinarySearchFunc(ls, a, func(l model.Listener, a netip.Addr) int {
			return cmp.Or(cmp.Compare(l.Port, port), cmp.Compare(l.Family, family), l.Addr.Compare(a))
		})
		hi := lo
		for hi < len(ls) && ls[hi].Port == port && ls[hi].Family == family && ls[hi].Addr == a {
			hi++
		}
		for _, dev := range devices {
			for _, only := range v6only {
				for i := lo; i < hi; i++ {
					if ls[i].BoundIfindex == dev && v6onlyOf(&ls[i]) == only {
						return first[i]
					}
				}
			}
		}
	}
	return -1
}
