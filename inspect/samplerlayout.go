package inspect

import "github.com/backlogctl/backlogctl/model"

// listenerLayout is what Sampler.Listeners computed that depends only on
// which sockets were dumped and the last SYN count, not on their queues:
// the sorted order, the SO_REUSEPORT groups and the attributed SYN queue.
// While the dump returns the same sockets in the same order (a stable
// listening hash) and no SYN count has happened since, Listeners reuses it
// instead of sorting and grouping again.
type listenerLayout struct {
	valid bool
	keys  []layoutKey // dump order
	rows  []layoutRow // sorted order
}

// layoutKey identifies a dumped listener; the bound device is part of its
// group key and the only part setsockopt can change after listen().
type layoutKey struct{ inode, ifindex uint32 }

// layoutRow is one sorted listener: its index in dump order and the fields
// listenerSet.finish fills in.
type layoutRow struct {
	sock           int
	reuseportGroup int
	reuseportSize  int
	synQueueShared bool
	synQueue       uint32
}

// matches reports whether socks are the sockets the layout was made from.
func (l *listenerLayout) matches(socks []DiagSocket) bool {
	if !l.valid || len(socks) != len(l.keys) {
		return false
	}
	for i := range socks {
		if l.keys[i] != (layoutKey{socks[i].Inode, socks[i].IfIndex}) {
			return false
		}
	}
	return true
}

// record remembers how finish arranged socks into sorted; it leaves the
// layout invalid if inodes repeat (then the order cannot be recovered).
func (l *listenerLayout) record(socks []DiagSocket, sorted []model.Listener) {
	l.valid = false
	index := make(map[uint32]int, len(socks))
	l.keys = l.keys[:0]
	for i := range socks {
		index[socks[i].Inode] = i
		l.keys = append(l.keys, layoutKey{socks[i].Inode, socks[i].IfIndex})
	}
	if len(index) != len(socks) || len(sorted) != len(socks) {
		return
	}
	l.rows = l.rows[:0]
	for _, s := range sorted {
		l.rows = append(l.rows, layoutRow{sock: index[s.Inode], reuseportGroup: s.ReuseportGroup,
			reuseportSize: s.ReuseportSize, synQueueShared: s.SynQueueShared, synQueue: s.SynQueue})
	}
	l.valid = true
}
