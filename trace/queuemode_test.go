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
	// Accepted and nothing enqueued since: sock_diag's queue says so.
	l, _ := tr.report(addr.Port(), time.Hour)
	if l.Enqueued != n || l.Accepted != n || l.AcceptWait.Count != 0 || l.IntervalHighWater != n {
		t.Errorf("before the next enqueue: enqueued %d, accepted %d, waits %d, interval_high_water %d; want %d, %d, 0, %d", l.Enqueued, l.Accepted, l.AcceptWait.Count, l.IntervalHighWater, n, n, n)
	}
	// An interval with no enqueue: the queue, accepted meanwhile, is empty.
	if l, _ = tr.report(addr.Port(), time.Hour); l.IntervalHighWater != 0 {
		t.Errorf("an interval with no enqueue and an empty queue: interval_high_water %d, want 0", l.IntervalHighWater)
	}
	time.Sleep(pause)
	nstest.Connect(t, addr)
	nstest.Eventually(t, 5*time.Second, "the next client queued", func() bool { return acceptQueue(t, addr.Port()) == 1 })
	l, _ = tr.report(addr.Port(), time.Hour)
	if l.Enqueued != n+1 || l.Accepted != n || l.AcceptWait.Count != n {
		t.Errorf("enqueued %d, accepted %d, waits %d; want %d, %d, %d", l.Enqueued, l.Accepted, l.AcceptWait.Count, n+1, n, n)
	}
	// Each wait is at least the first pause and is timed to the next
	// enqueue, after the second: the bound covers the difference.
	if got := time.Duration(l.AcceptWait.Max * float64(time.Second)); got < 2*pause {
		t.Errorf("longest wait timed %s: the bound is to the next enqueue, after %s", got, 2*pause)
	}
	if bound := time.Duration(l.AcceptWait.Bound * float64(time.Second)); bound < pause || bound > 10*time.Second {
		t.Errorf("bound %s: the accepts happened in a gap of at least %s between two enqueues", bound, pause)
	}
	if len(l.AcceptErrors) != 0 || l.AcceptWait.Unmatched != 0 {
		t.Errorf("accept errors %v, unmatched %d in queue mode", l.AcceptErrors, l.AcceptWait.Unmatched)
	}
}
