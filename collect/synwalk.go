package collect

import (
	"sync"
	"sync/atomic"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/model"
)

// synWalks decides, per namespace, whether a snapshot must walk the request
// sockets to count the SYN queues, a walk of the established table that
// every namespace of the host shares (262,144 buckets on a small machine,
// and every TIME_WAIT socket of every namespace). A request socket is made
// only when a SYN arrives (tcp_conn_request), and every TCP segment a
// namespace receives first raises its Tcp InSegs (tcp_v4_rcv, tcp_v6_rcv).
// So when the last walk found no request socket and InSegs has not moved
// since it was read just before that walk, there is still none: every SYN
// queue is exactly 0 and the walk is skipped. Any segment, or a request
// socket found last time (it may since have expired), means a walk.
// A Collector holds one, so trace, watch and the exporter share the rule.
type synWalks struct {
	mu   sync.Mutex
	last map[uint64]synWalk
	// skipped counts the walks left out.
	skipped atomic.Int64
}

// synWalk is what one namespace's last walk was preceded by and found.
type synWalk struct {
	inSegs uint64
	empty  bool
}

// skip says whether the walk may be left out in the namespace netns whose
// InSegs, read just now, is inSegs; walked records what a walk preceded by
// that read found.
func (w *synWalks) skip(netns, inSegs uint64) bool {
	w.mu.Lock()
	prev, seen := w.last[netns]
	w.mu.Unlock()
	if seen && prev.empty && prev.inSegs == inSegs {
		w.skipped.Add(1)
		return true
	}
	return false
}

func (w *synWalks) walked(netns, inSegs uint64, empty bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == nil {
		w.last = map[uint64]synWalk{}
	}
	w.last[netns] = synWalk{inSegs: inSegs, empty: empty}
}

// plan reads the namespace's InSegs below roots (as read from inside it)
// and says whether sel may leave the request sockets out; done records
// what the dump then found. A nil w always walks.
func (w *synWalks) plan(roots hostfs.Roots, netns uint64, sel inspect.Selection) (inspect.Selection, func([]model.Listener)) {
	if w == nil || !sel.TCP() {
		return sel, func([]model.Listener) {}
	}
	inSegs, err := inspect.ReadTCPInSegs(roots.Proc)
	if err != nil {
		return sel, func([]model.Listener) {} // unknown: walk, and remember nothing
	}
	sel.NoRequests = w.skip(netns, inSegs)
	return sel, func(ls []model.Listener) {
		empty := true
		for _, l := range ls {
			if !l.IsUnix() && l.SynQueue > 0 {
				empty = false
				break
			}
		}
		w.walked(netns, inSegs, empty)
	}
}
