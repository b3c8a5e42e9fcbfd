package collect

import (
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/trace"
)

// tracedCollector attaches the programs to a Collector of this namespace,
// skipping only where the kernel has no BTF.
func tracedCollector(t *testing.T, o Options) *Collector {
	t.Helper()
	if o.Trace == TraceOff {
		o.Trace = TraceOn
	}
	c, err := NewCollector(o)
	if errors.Is(err, trace.ErrNoBTF) {
		t.Skipf("this kernel has no BTF (/sys/kernel/btf/vmlinux): trace cannot run")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// tracedListener takes a traced snapshot and returns the listener on port.
func tracedListener(t *testing.T, c *Collector, port uint16) (model.Listener, *model.MultiSnapshot) {
	t.Helper()
	m, err := c.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	l := nstest.FindListener(t, m.Namespaces[0].Listeners, port)
	if l.Traced == nil {
		t.Fatalf("listener %d carries no evidence: %+v", port, l)
	}
	return l, m
}

// A listener with backlog 2 that never accepts: 10 clients fill its queue
// to backlog+1 = 3 and the rest overflow; every overflow the namespace
// counted is attributed to it, split by where it happened: the final-ACK
// ones as the programs counted them, the SYN ones derived.
func TestTracedOverflowsBySite(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	c := tracedCollector(t, Options{})
	_, addr := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 2, nstest.ListenOpts{})
	for range 10 {
		nstest.Connect(t, addr)
	}
	var l model.Listener
	var m *model.MultiSnapshot
	nstest.Eventually(t, 5*time.Second, "a full accept queue", func() bool {
		l, m = tracedListener(t, c, addr.Port())
		return l.AcceptQueue == 3
	})
	c.tracer.mu.Lock()
	base := c.tracer.base.overflows[m.Namespaces[0].Netns.Inode]
	c.tracer.mu.Unlock()
	rise := m.Namespaces[0].Counters["TcpExtListenOverflows"] - base
	if rise < 7 {
		t.Fatalf("TcpExtListenOverflows rose %d, want at least 7 (10 clients, 3 queued)", rise)
	}
	tr := l.Traced
	if tr.HighWater != 3 || tr.Enqueued != 3 || tr.Accepted != 0 {
		t.Errorf("high water %d, enqueued %d, accepted %d; want 3, 3, 0", tr.HighWater, tr.Enqueued, tr.Accepted)
	}
	if got := tr.Overflows.Total(); got != rise {
		t.Errorf("overflows %+v sum to %d, want the namespace's ListenOverflows rise %d", tr.Overflows, got, rise)
	}
	if tr.Overflows.AckTime != tr.Drops[trace.ListenOverflowReason] {
		t.Errorf("ack_time %d, drops[%s] %d: want equal", tr.Overflows.AckTime, trace.ListenOverflowReason, tr.Drops[trace.ListenOverflowReason])
	}
}

// A listener whose owner is stopped while connections queue is stalled, past
// the threshold and not before; with no accept() seen to name the owner,
// it is found in /proc (OwnersUnaccepted), with its state.
func TestTracedStall(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	const stall = 300 * time.Millisecond
	c := tracedCollector(t, Options{Owners: OwnersUnaccepted, Stall: stall})
	h := startHelper(t, "bl-stalled", "127.0.0.1:0")
	if err := h.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.cmd.Process.Signal(syscall.SIGCONT) })
	queued := time.Now()
	nstest.Connect(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), h.port))
	nstest.Connect(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), h.port))
	var l model.Listener
	nstest.Eventually(t, 5*time.Second, "two connections queued, the owner named", func() bool {
		l, _ = tracedListener(t, c, h.port)
		return l.AcceptQueue == 2 && len(l.Traced.Owners) > 0 && strings.HasPrefix(l.Traced.Owners[0].State, "T")
	})
	if stalled, _ := l.Traced.Stalled(l.AcceptQueue, time.Hour); stalled {
		t.Errorf("stalled under a one-hour threshold")
	}
	nstest.Eventually(t, 5*time.Second, "a stall", func() bool {
		l, _ = tracedListener(t, c, h.port)
		stalled, _ := l.Traced.Stalled(l.AcceptQueue, stall)
		return stalled
	})
	if _, held := l.Traced.Stalled(l.AcceptQueue, stall); held < stall || time.Since(queued) < held {
		t.Errorf("held %s, want at least %s and at most since the connections queued", held, stall)
	}
	o := l.Traced.Owners
	if len(o) != 1 || o[0].PID != h.cmd.Process.Pid || o[0].Comm != "bl-stalled" || o[0].State != "T (stopped)" {
		t.Errorf("owners %+v, want bl-stalled[%d] in T (stopped)", o, h.cmd.Process.Pid)
	}
	report := model.NewTraceReport(&model.MultiSnapshot{Namespaces: []model.NamespaceSnapshot{{Snapshot: &model.Snapshot{Listeners: []model.Listener{l}}}}}, stall)
	if r := report.Listeners[0]; !r.Stalled || r.StalledSeconds < stall.Seconds() {
		t.Errorf("trace prints stalled %v for %.3fs", r.Stalled, r.StalledSeconds)
	}
}

// A listener the programs made stats for at a drop, with no enqueue or
// accept while traced, holds the length sock_diag gives throughout: its
// interval high water is that, not the 0 its never-written slots hold.
func TestTracedUntrackedQueue(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	fd, addr := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 8, nstest.ListenOpts{})
	nstest.Connect(t, addr)
	nstest.Connect(t, addr)
	nstest.Eventually(t, 5*time.Second, "2 queued", func() bool {
		ls, err := Snapshot(Options{Ports: []uint16{addr.Port()}})
		return err == nil && ls.Namespaces[0].Listeners[0].AcceptQueue == 2
	})
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_DEFER_ACCEPT, 30); err != nil {
		t.Fatal(err)
	}
	c := tracedCollector(t, Options{Ports: []uint16{addr.Port()}})
	nstest.Connect(t, addr)
	nstest.Eventually(t, 5*time.Second, "a defer-accept drop", func() bool {
		l, _ := tracedListener(t, c, addr.Port())
		if l.Traced.IntervalHighWater != 2 {
			t.Fatalf("interval high water %d with 2 queued throughout, enqueued %d, drops %v", l.Traced.IntervalHighWater, l.Traced.Enqueued, l.Traced.Drops)
		}
		return l.Traced.Drops[trace.DeferAcceptReason] > 0
	})
	if l, _ := tracedListener(t, c, addr.Port()); l.Traced.IntervalHighWater != 2 || l.Traced.Enqueued != 0 {
		t.Errorf("after the drop: interval high water %d, enqueued %d; want 2, 0", l.Traced.IntervalHighWater, l.Traced.Enqueued)
	}
}

// Queue mode sees no accept(): accepted is the connections enqueued less
// those still queued (exact), an interval with no enqueue has the queue's
// length at the read as its high water, and the waits are timed to the
// next enqueue, with their bound.
func TestTracedQueueMode(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	const n, pause = 5, 60 * time.Millisecond
	c := tracedCollector(t, Options{Trace: TraceQueue})
	fd, addr := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 64, nstest.ListenOpts{})
	for range n {
		nstest.Connect(t, addr)
	}
	nstest.Eventually(t, 5*time.Second, "every client queued", func() bool {
		l, _ := tracedListener(t, c, addr.Port())
		return l.AcceptQueue == n
	})
	time.Sleep(pause)
	for range n {
		nfd, _, err := syscall.Accept4(fd, syscall.SOCK_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Close(nfd) })
	}
	l, m := tracedListener(t, c, addr.Port())
	if m.Trace.Mode != "queue" || l.Traced.Enqueued != n || l.Traced.Accepted != n || l.Traced.IntervalHighWater != 0 {
		t.Errorf("mode %q, enqueued %d, accepted %d, interval high water %d; want queue, %d, %d (sock_diag's queue is empty), 0",
			m.Trace.Mode, l.Traced.Enqueued, l.Traced.Accepted, l.Traced.IntervalHighWater, n, n)
	}
	nstest.Connect(t, addr)
	nstest.Eventually(t, 5*time.Second, "the next client queued", func() bool {
		l, _ = tracedListener(t, c, addr.Port())
		return l.AcceptQueue == 1
	})
	w := l.Traced.AcceptWait
	if l.Traced.Accepted != n || w.Count != n || time.Duration(w.MaxNs) < pause || w.BoundNs == 0 || len(l.Traced.AcceptErrors) != 0 {
		t.Errorf("accepted %d, waits %d (max %s, bound %s), errors %v; want %d, %d waits of at least %s, a bound, none",
			l.Traced.Accepted, w.Count, time.Duration(w.MaxNs), time.Duration(w.BoundNs), l.Traced.AcceptErrors, n, n, pause)
	}
}
