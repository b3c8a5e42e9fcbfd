package trace

import (
	"slices"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
)

// Queue mode attaches no accept hook: accepts are inferred from the queue.
// Five connections wait at least 60ms and are accepted; the next enqueue
// finds them taken and times each wait to itself, an upper bound (by at
// most the time since the queue was last seen whole: the bound). accepted
// is exact: the connections enqueued less those still queued.
func TestQueueMode(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	const n, pause = 5, 60 * time.Millisecond
	tr := startTracingWith(t, Options{Mode: ModeQueue})
	if hooks := tr.c.Hooks(); len(hooks) != len(QueueHooks) || slices.ContainsFunc(hooks, func(h Hook) bool { return h.Program == bpfProgBlAcceptExit }) {
		t.Fatalf("queue mode attached %+v, want %+v", hooks, QueueHooks)
	}
	fd, addr := nstest.Listen(t, loopback(0), 128, nstest.ListenOpts{})
	for range n {
		nstest.Connect(t, addr)
	}
	nstest.Eventually(t, 5*time.Second, "every client queued", func() bool { return acceptQueue(t, addr.Port()) == n })
	time.Sleep(pause)
	acceptN(t, fd, n)
	// Nothing enqueued since: no accept is known yet to the programs (the
	// collector infers them from sock_diag's queue: collect's tests).
	l := tr.report(addr.Port())
	if l.Enqueued != n || l.Accepted != 0 || l.AcceptWait.Count != 0 {
		t.Errorf("before the next enqueue: enqueued %d, accepted %d, waits %d; want %d, 0, 0", l.Enqueued, l.Accepted, l.AcceptWait.Count, n)
	}
	time.Sleep(pause)
	nstest.Connect(t, addr)
	nstest.Eventually(t, 5*time.Second, "the next client queued", func() bool { return acceptQueue(t, addr.Port()) == 1 })
	l = tr.report(addr.Port())
	if l.Enqueued != n+1 || l.Accepted != n || l.AcceptWait.Count != n {
		t.Errorf("enqueued %d, accepted %d, waits %d; want %d, %d, %d", l.Enqueued, l.Accepted, l.AcceptWait.Count, n+1, n, n)
	}
	// Each wait is at least the first pause and is timed to the next
	// enqueue, after the second: the bound covers the difference.
	if got := time.Duration(l.AcceptWait.MaxNs); got < 2*pause {
		t.Errorf("longest wait timed %s: the bound is to the next enqueue, after %s", got, 2*pause)
	}
	if bound := l.WaitBound; bound < pause || bound > 10*time.Second {
		t.Errorf("bound %s: the accepts happened in a gap of at least %s between two enqueues", bound, pause)
	}
	if len(l.AcceptErrors) != 0 || l.AcceptWait.Unmatched != 0 {
		t.Errorf("accept errors %v, unmatched %d in queue mode", l.AcceptErrors, l.AcceptWait.Unmatched)
	}
}
