package trace

import (
	"cmp"
	"slices"
)

// Overflows are connections dropped because the accept queue was full, by
// where the kernel found it full. Their sum is the namespace's
// TcpExtListenOverflows rise over the same time, shared among its listeners.
type Overflows struct {
	// SynTime: the SYN arrived with the queue full (tcp_conn_request). The
	// kernel consumes that SYN with no drop reason and no tracepoint, so
	// this is derived: the namespace's ListenOverflows rise less the ACK-time
	// overflows counted, given to the listener whose queue was seen full
	// (exact when one was), or shared among several by their own drop
	// counts' rise not otherwise explained (SplitSynTime).
	SynTime uint64 `json:"syn_time"`
	// AckTime: the final ACK of a request socket arrived with the queue full
	// (tcp_check_req), counted exactly by kfree_skb's TCP_LISTEN_OVERFLOW
	// reason.
	AckTime uint64 `json:"ack_time"`
	// CookieAckTime: an ACK carrying a SYN cookie arrived with the queue
	// full (cookie_v4_check/cookie_v6_check -> tcp_get_cookie_sock ->
	// syn_recv_sock), counted exactly at kfree_skb, where Linux 6.9 and
	// later give it the reason NO_SOCKET (no child socket was made).
	CookieAckTime uint64 `json:"cookie_ack_time"`
}

// Total is every overflow, all sites.
func (o Overflows) Total() uint64 { return o.SynTime + o.AckTime + o.CookieAckTime }

// ListenOverflowReason is the drop reason of an ACK-time overflow.
const ListenOverflowReason = "TCP_LISTEN_OVERFLOW"

// SynTimeListener is one listener of a namespace as SplitSynTime sees it.
type SynTimeListener struct {
	Key
	// Filled: its accept queue was full at some time in the window (traced:
	// ListenerEvidence.Filled; or full in a sample at either end). Only
	// such a listener can drop a SYN for a full queue.
	Filled bool
	// DropsKnown says DropsRise holds the rise of its own drop count
	// (sk_drops) over the window: false when it was not sampled at both ends.
	DropsKnown bool
	DropsRise  uint64
	// AckOverflows, CookieAckOverflows and DeferAcceptDrops are its exact
	// counts, which explain part of DropsRise.
	AckOverflows       uint64
	CookieAckOverflows uint64
	DeferAcceptDrops   uint64
}

// unexplained is the part of l's drop-count rise its counted drops do not
// explain: an overflowed request-socket ACK adds 2 to sk_drops
// (tcp_listendrop in syn_recv_sock, then tcp_v4_rcv's discard), a cookie
// ACK 1 (tcp_listendrop only), a defer-accept drop 1 (the discard). What is
// left is SYN-time overflows and other SYN drops (a full SYN queue without
// cookies, tcp_max_syn_backlog's 3/4 rule), which also have no tracepoint.
func (l SynTimeListener) unexplained() uint64 {
	explained := 2*l.AckOverflows + l.CookieAckOverflows + l.DeferAcceptDrops
	if !l.DropsKnown || l.DropsRise <= explained {
		return 0
	}
	return l.DropsRise - explained
}

// SplitSynTime shares a namespace's SYN-time overflows among its listeners
// and returns each one's part, by index of ls: listenOverflowsRise is the
// namespace's TcpExtListenOverflows rise over the window, ls every listener
// of the namespace that was traced or sampled in it. The total is exact:
// the rise less the ACK-time overflows counted at the event. Only a
// listener whose queue filled can drop a SYN for it, so with one such
// listener the split is exact too; with several, each gets at most its
// unexplained drop-count rise, most unexplained first, and what is left
// goes to the one with the most (derived). With none seen full (a listener
// that filled and closed, or one not traced), nothing is given.
func SplitSynTime(listenOverflowsRise uint64, ls []SynTimeListener) []uint64 {
	shares := make([]uint64, len(ls))
	remaining := listenOverflowsRise
	for _, l := range ls {
		remaining -= min(remaining, l.AckOverflows+l.CookieAckOverflows)
	}
	if remaining == 0 {
		return shares
	}
	var filled []int
	for i, l := range ls {
		if l.Filled {
			filled = append(filled, i)
		}
	}
	if len(filled) == 0 {
		return shares
	}
	slices.SortStableFunc(filled, func(a, b int) int { return cmp.Compare(ls[b].unexplained(), ls[a].unexplained()) })
	for _, i := range filled {
		n := min(ls[i].unexplained(), remaining)
		shares[i] = n
		remaining -= n
	}
	shares[filled[0]] += remaining
	return shares
}
