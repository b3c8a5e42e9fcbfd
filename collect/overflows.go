package collect

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/backlogctl/backlogctl/trace"
)

// synTimeListener is one listener of a namespace as splitSynTime sees it.
type synTimeListener struct {
	key trace.Key
	// filled: its accept queue was full at some time in the window (traced,
	// or full in a sample at either end). Only such a listener can drop a
	// SYN for a full queue.
	filled bool
	// dropsKnown says dropsRise holds the rise of its own drop count
	// (sk_drops) over the window: false when not sampled at both ends.
	dropsKnown bool
	dropsRise  uint64
	// Its exact counts, which explain part of dropsRise.
	ackOverflows, cookieAckOverflows, deferAcceptDrops uint64
}

// unexplained is the part of l's drop-count rise its counted drops do not
// explain: an overflowed request-socket ACK adds 2 to sk_drops
// (tcp_listendrop in syn_recv_sock, then tcp_v4_rcv's discard), a cookie
// ACK 1 (tcp_listendrop only), a defer-accept drop 1 (the discard). What is
// left is SYN-time overflows and other SYN drops (a full SYN queue without
// cookies, tcp_max_syn_backlog's 3/4 rule), which have no tracepoint either.
func (l synTimeListener) unexplained() uint64 {
	explained := 2*l.ackOverflows + l.cookieAckOverflows + l.deferAcceptDrops
	if !l.dropsKnown || l.dropsRise <= explained {
		return 0
	}
	return l.dropsRise - explained
}

// splitSynTime shares a namespace's SYN-time overflows among its listeners
// and returns each one's part, by index of ls: listenOverflowsRise is the
// namespace's TcpExtListenOverflows rise over the window, ls every listener
// of the namespace traced or sampled in it. The total is exact: the rise
// less the ACK-time overflows counted at the event (a SYN dropped for a full
// queue is consumed with no drop reason and no tracepoint). Only a listener
// whose queue filled can drop a SYN for it, so with one such listener the
// split is exact too; with several, each gets at most its unexplained
// drop-count rise, most unexplained first, and what is left goes to the one
// with the most (derived). With none seen full (one that filled and closed),
// nothing is given.
func splitSynTime(listenOverflowsRise uint64, ls []synTimeListener) []uint64 {
	shares := make([]uint64, len(ls))
	remaining := listenOverflowsRise
	for _, l := range ls {
		remaining -= min(remaining, l.ackOverflows+l.cookieAckOverflows)
	}
	if remaining == 0 {
		return shares
	}
	var filled []int
	for i, l := range ls {
		if l.filled {
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

// untracedNote is the warning when listeners found the programs' listener
// table full, or "" when none did.
func untracedNote(ev *trace.Evidence) string {
	if ev.UntracedEvents == 0 {
		return ""
	}
	if unnamed := ev.UntracedUnnamed(); unnamed > 0 {
		return fmt.Sprintf("listeners found eBPF's listener table full (%d slots): %d listed ones' exact figures miss %d events, and %d events of more listeners were not counted, so every listener without figures is marked untraced; raise --trace-listeners",
			ev.ListenerSlots, len(ev.Untraced), ev.UntracedEvents-unnamed, unnamed)
	}
	return fmt.Sprintf("%d listener(s) found eBPF's listener table full (%d slots): their exact figures miss %d events (marked untraced); raise --trace-listeners",
		len(ev.Untraced), ev.ListenerSlots, ev.UntracedEvents)
}
