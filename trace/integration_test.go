package trace

import (
	"bufio"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/nstest"
)

// serverEnv makes the test binary an accept-loop server (see serve).
const serverEnv = "BACKLOGCTL_TRACE_TEST_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) != "" {
		serve()
	}
	os.Exit(m.Run())
}

// serve listens on 127.0.0.1 (listen backlog 64), prints its port, and
// accepts forever, keeping every connection open; on an error it waits 5ms
// and tries again (so under a low RLIMIT_NOFILE it keeps failing with EMFILE).
func serve() {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	}
	if err == nil {
		err = unix.Listen(fd, 64)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sa, _ := unix.Getsockname(fd)
	fmt.Println(sa.(*unix.SockaddrInet4).Port)
	for {
		if _, _, err := unix.Accept4(fd, 0); err != nil {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// startServer runs serve in a child process, optionally under a command
// prefix such as prlimit, and returns its process and port.
func startServer(t *testing.T, prefix ...string) (*os.Process, uint16) {
	t.Helper()
	args := append(prefix, os.Args[0], "-test.run=^$")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), serverEnv+"=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the server: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the server's port: %v", err)
	}
	port, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("server printed %q", line)
	}
	return cmd.Process, uint16(port)
}

// tracing is one test's collector in its network namespace.
type tracing struct {
	t  *testing.T
	c  *Collector
	ns uint64
}

// startTracing attaches the programs, skipping only where the kernel has no BTF.
func startTracing(t *testing.T) *tracing {
	t.Helper()
	return startTracingWith(t, Options{})
}

// startTracingWith is startTracing with options; the collector traces the
// test's namespace only, as the commands do by default.
func startTracingWith(t *testing.T, o Options) *tracing {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		t.Fatal(err)
	}
	o.Netns = []uint64{st.Ino}
	c, err := Start(o)
	if err == ErrNoBTF {
		t.Skipf("this kernel has no BTF (/sys/kernel/btf/vmlinux): trace cannot run")
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &tracing{t: t, c: c, ns: st.Ino}
}

// report reads the maps and returns the evidence of the listener on port
// (zero when the programs counted nothing for it): the raw figures, which
// the collector joins to its snapshots (collect's tests cover the join).
func (tr *tracing) report(port uint16) *ListenerEvidence {
	tr.t.Helper()
	ev, err := tr.c.Snapshot()
	if err != nil {
		tr.t.Fatal(err)
	}
	ls, err := inspect.Listeners(nil, []uint16{port})
	if err != nil || len(ls) != 1 {
		tr.t.Fatalf("listeners on %d: %v %v", port, ls, err)
	}
	if le := ev.Listeners[Key{Netns: tr.ns, Cookie: ls[0].Cookie}]; le != nil {
		return le
	}
	return &ListenerEvidence{Drops: map[string]uint64{}}
}

// waitBound is the upper bound in seconds of bucket i's waits.
func waitBound(i int) float64 { return math.Ldexp(1, i+1) / 1e9 }

func loopback(port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
}

func acceptQueue(t *testing.T, port uint16) uint32 {
	ls, err := inspect.Listeners(nil, []uint16{port})
	if err != nil || len(ls) != 1 {
		t.Fatalf("listeners on %d: %v %v", port, ls, err)
	}
	return ls[0].AcceptQueue
}

// A listener with backlog 2 that never accepts: 10 clients fill its queue
// to backlog+1 = 3 and the rest overflow; the final-ACK-time overflows are
// counted at it exactly (collect's tests check that, with the SYN-time ones
// it derives, they are every overflow the namespace counted).
func TestOverflowsAndHighWater(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	tr := startTracing(t)
	before, err := inspect.ReadCounters("/proc")
	if err != nil {
		t.Fatal(err)
	}
	_, addr := nstest.Listen(t, loopback(0), 2, nstest.ListenOpts{})
	for range 10 {
		nstest.Connect(t, addr)
	}
	nstest.Eventually(t, 5*time.Second, "a full accept queue", func() bool { return acceptQueue(t, addr.Port()) == 3 })
	l := tr.report(addr.Port())
	after, err := inspect.ReadCounters("/proc")
	if err != nil {
		t.Fatal(err)
	}
	if l.AcceptQueueHighWater != 3 || l.Enqueued != 3 || l.Accepted != 0 {
		t.Errorf("accept_queue_high_water %d, enqueued %d, accepted %d; want 3, 3, 0", l.AcceptQueueHighWater, l.Enqueued, l.Accepted)
	}
	rise := after["TcpExtListenOverflows"] - before["TcpExtListenOverflows"]
	if rise < 7 {
		t.Fatalf("TcpExtListenOverflows rose %d, want at least 7 (10 clients, 3 queued)", rise)
	}
	if ack := l.Drops[ListenOverflowReason]; ack > rise {
		t.Errorf("drops[%s] %d, above the namespace's ListenOverflows rise %d", ListenOverflowReason, ack, rise)
	}
}

// A server that accepts N connections: N enqueued, N accepted, N waits timed.
func TestAcceptWait(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	acceptWait(t, bpfProgBlAcceptExit)
}

// The same where tracefs cannot be had: accept seen at the raw sys_exit.
func TestAcceptWaitRawSysExit(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	saved := tracefsRoots
	tracefsRoots = []string{t.TempDir() + "/absent"}
	defer func() { tracefsRoots = saved }()
	acceptWait(t, bpfProgBlSysExit)
}

// acceptWait runs TestAcceptWait with accept seen by the program acceptProg.
func acceptWait(t *testing.T, acceptProg string) {
	const n = 20
	tr := startTracing(t)
	hooked := map[string]bool{}
	for _, h := range tr.c.Hooks() {
		hooked[h.Program] = true
	}
	if !hooked[acceptProg] || hooked[bpfProgBlAcceptExit] == hooked[bpfProgBlSysExit] {
		t.Fatalf("hooks %+v: want accept seen by %s only", tr.c.Hooks(), acceptProg)
	}
	fd, addr := nstest.Listen(t, loopback(0), 128, nstest.ListenOpts{})
	for range n {
		nstest.Connect(t, addr)
	}
	nstest.Eventually(t, 5*time.Second, "every client queued", func() bool { return acceptQueue(t, addr.Port()) == n })
	acceptN(t, fd, n)
	l := tr.report(addr.Port())
	if l.Enqueued != n || l.Accepted != n || l.AcceptWait.Count != n {
		t.Errorf("enqueued %d, accepted %d, accept_wait_seconds.count %d; want %d each", l.Enqueued, l.Accepted, l.AcceptWait.Count, n)
	}
	if l.AcceptWait.Unmatched != 0 {
		t.Errorf("accept_wait_seconds.unmatched %d: connections queued one at a time are each matched to their own enqueue", l.AcceptWait.Unmatched)
	}
	if l.AcceptQueueHighWater != n {
		t.Errorf("accept_queue_high_water %d, want %d", l.AcceptQueueHighWater, n)
	}
	var inBuckets uint64
	for _, n := range l.AcceptWait.Buckets {
		inBuckets += n
	}
	if inBuckets != n || l.AcceptWait.MaxNs == 0 || l.AcceptWait.SumNs < l.AcceptWait.MaxNs {
		t.Errorf("accept_wait_seconds %+v: want %d waits in the buckets, 0 < max <= sum", l.AcceptWait, n)
	}
}

// A deep queue: thousands of children waiting at once are each timed, from
// their own enqueue (every wait is at least the pause before the accepts).
func TestAcceptWaitDeepQueue(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	const n = 3000
	const pause = 300 * time.Millisecond
	tr := startTracing(t)
	fd, addr := nstest.Listen(t, loopback(0), 4096, nstest.ListenOpts{})
	for range n {
		nstest.Connect(t, addr)
	}
	nstest.Eventually(t, 10*time.Second, "every client queued", func() bool { return acceptQueue(t, addr.Port()) == n })
	time.Sleep(pause)
	for range n {
		nfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
		if err != nil {
			t.Fatalf("accept: %v", err)
		}
		unix.Close(nfd)
	}
	l := tr.report(addr.Port())
	if l.Enqueued != n || l.Accepted != n || l.AcceptWait.Count != n {
		t.Errorf("enqueued %d, accepted %d, accept_wait_seconds.count %d; want %d each", l.Enqueued, l.Accepted, l.AcceptWait.Count, n)
	}
	if l.AcceptWait.Unmatched != 0 {
		t.Errorf("accept_wait_seconds.unmatched %d: connections queued one at a time are each matched to their own enqueue", l.AcceptWait.Unmatched)
	}
	for i, n := range l.AcceptWait.Buckets {
		if n > 0 && i < WaitBuckets-1 && waitBound(i) < pause.Seconds()/2 {
			t.Errorf("%d waits of at most %gs; every connection waited at least %s", n, waitBound(i), pause)
		}
	}
}

// Connections queued before tracing began are accepted first and not timed
// (nothing saw them enter the queue); those queued after are, each with its
// own wait.
func TestAcceptWaitQueuedBeforeTracing(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	const before, after = 3, 4
	const pause = 60 * time.Millisecond
	fd, addr := nstest.Listen(t, loopback(0), 128, nstest.ListenOpts{})
	for range before {
		nstest.Connect(t, addr)
	}
	nstest.Eventually(t, 5*time.Second, "the first clients queued", func() bool { return acceptQueue(t, addr.Port()) == before })
	time.Sleep(4 * pause) // they wait far longer than those after them
	tr := startTracing(t)
	for range after {
		nstest.Connect(t, addr)
	}
	nstest.Eventually(t, 5*time.Second, "every client queued", func() bool { return acceptQueue(t, addr.Port()) == before+after })
	time.Sleep(pause)
	acceptN(t, fd, before+after)
	l := tr.report(addr.Port())
	if l.Enqueued != after || l.Accepted != before+after || l.AcceptWait.Count != after {
		t.Errorf("enqueued %d, accepted %d, accept_wait_seconds.count %d; want %d, %d, %d", l.Enqueued, l.Accepted, l.AcceptWait.Count, after, before+after, after)
	}
	if mx := time.Duration(l.AcceptWait.MaxNs); mx < pause || mx >= 3*pause {
		t.Errorf("longest wait timed %s; those traced waited %s to about %s", mx, pause, 2*pause)
	}
}

// Accepts trace does not see (io_uring's; here the accept hooks detached)
// take connections from the queue without counting their places. Once an
// accept that is seen empties the queue, the places are back in step: the
// next connections are timed with their own waits, not earlier ones'.
func TestAcceptWaitAfterUnseenAccepts(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	const pause = 60 * time.Millisecond
	tr := startTracing(t)
	fd, addr := nstest.Listen(t, loopback(0), 128, nstest.ListenOpts{})
	for range 4 {
		nstest.Connect(t, addr)
	}
	nstest.Eventually(t, 5*time.Second, "every client queued", func() bool { return acceptQueue(t, addr.Port()) == 4 })
	acceptN(t, fd, 1)
	reattach := detachAcceptHooks(t, tr.c)
	acceptN(t, fd, 3) // unseen: the queue is empty, trace counts 3 still in it
	reattach()
	time.Sleep(4 * pause) // a wait timed from those 3 would be this long at least
	for range 3 {
		nstest.Connect(t, addr)
		nstest.Eventually(t, 5*time.Second, "the client queued", func() bool { return acceptQueue(t, addr.Port()) == 1 })
		time.Sleep(pause)
		acceptN(t, fd, 1)
	}
	l := tr.report(addr.Port())
	if l.Enqueued != 7 || l.Accepted != 4 {
		t.Errorf("enqueued %d, accepted %d; want 7, 4", l.Enqueued, l.Accepted)
	}
	if l.AcceptWait.Count < 3 {
		t.Errorf("accept_wait_seconds.count %d; want the last 3 at least", l.AcceptWait.Count)
	}
	if mx := time.Duration(l.AcceptWait.MaxNs); mx >= 3*pause {
		t.Errorf("longest wait timed %s; no connection seen accepted waited more than about %s", mx, pause)
	}
}

// A listener table that is full leaves the listeners that find no slot
// untraced, and says so; none is dropped from the table to make room, but
// the slot of one that closed is taken over. A table of 32 slots (one
// window: every listener's window is the whole table), 40 listeners with a
// connection each. Listeners in other namespaces (other tests') take no
// slot: the collector traces this one only.
func TestListenerTableFull(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	const slots, n, closed = 32, 40, 4
	var nsSt unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &nsSt); err != nil {
		t.Fatal(err)
	}
	// Only this namespace: the programs see every one, and other tests'
	// listeners would take slots.
	c, err := Start(Options{slots: slots, Netns: []uint64{nsSt.Ino}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	type listener struct {
		fd     int
		port   uint16
		cookie uint64
	}
	ls := make([]listener, n)
	for i := range ls {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Fatal(err)
		}
		if err := unix.Listen(fd, 8); err != nil {
			t.Fatal(err)
		}
		sa, _ := unix.Getsockname(fd)
		cookie, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_COOKIE)
		if err != nil {
			t.Fatal(err)
		}
		ls[i] = listener{fd, uint16(sa.(*unix.SockaddrInet4).Port), cookie}
	}
	t.Cleanup(func() {
		for _, l := range ls {
			if l.fd >= 0 {
				unix.Close(l.fd)
			}
		}
	})
	for _, l := range ls {
		nstest.Connect(t, loopback(l.port))
		nstest.Eventually(t, 5*time.Second, "the client queued", func() bool { return acceptQueue(t, l.port) == 1 })
	}
	ev, err := c.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var traced, untraced []int
	for i, l := range ls {
		k := Key{nsSt.Ino, l.cookie}
		le, missed := ev.Listeners[k], ev.Untraced[k]
		switch {
		case le != nil && le.Enqueued == 1 && missed == 0:
			traced = append(traced, i)
		case le == nil && missed == 1:
			untraced = append(untraced, i)
		default:
			t.Errorf("listener %d: evidence %+v, untraced events %d: want traced with 1 enqueued, or untraced with 1 event", l.port, le, missed)
		}
	}
	if len(traced) != slots || len(untraced) != n-slots || ev.UntracedEvents != n-slots || ev.ListenersTraced != slots {
		t.Fatalf("%d traced, %d untraced, untraced_events %d, %d slots taken; want %d, %d, %d, %d",
			len(traced), len(untraced), ev.UntracedEvents, ev.ListenersTraced, slots, n-slots, n-slots, slots)
	}
	// 4 traced listeners close: 4 of the untraced take their slots at their
	// next connection, the others are still untraced.
	for _, i := range traced[:closed] {
		unix.Close(ls[i].fd)
		ls[i].fd = -1
	}
	for _, i := range untraced {
		nstest.Connect(t, loopback(ls[i].port))
		nstest.Eventually(t, 5*time.Second, "the client queued", func() bool { return acceptQueue(t, ls[i].port) == 2 })
	}
	if ev, err = c.Snapshot(); err != nil {
		t.Fatal(err)
	}
	var tookOver, still int
	for _, i := range untraced {
		k := Key{nsSt.Ino, ls[i].cookie}
		le, missed := ev.Listeners[k], ev.Untraced[k]
		switch {
		case le != nil && le.Enqueued == 1 && missed == 1:
			tookOver++
		case le == nil && missed == 2:
			still++
		default:
			t.Errorf("listener %d: evidence %+v, untraced events %d", ls[i].port, le, missed)
		}
	}
	if tookOver != closed || still != n-slots-closed {
		t.Errorf("%d took a closed listener's slot, %d still untraced; want %d, %d", tookOver, still, closed, n-slots-closed)
	}
	for _, i := range traced[closed:] {
		if le := ev.Listeners[Key{nsSt.Ino, ls[i].cookie}]; le == nil || le.Enqueued != 1 {
			t.Errorf("listener %d lost its figures: %+v", ls[i].port, le)
		}
	}
}

// A listener with a free window takes its first slot.
func TestListenerSlotFirstFree(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	tr := startTracing(t)
	fd, addr := nstest.Listen(t, loopback(0), 128, nstest.ListenOpts{})
	cookie, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_COOKIE)
	if err != nil {
		t.Fatal(err)
	}
	nstest.Connect(t, addr)
	nstest.Eventually(t, 5*time.Second, "the client queued", func() bool { return acceptQueue(t, addr.Port()) == 1 })
	var st bpfListenerStats
	if err := tr.c.objs.Listeners.Lookup(listenerWindow(cookie, uint32(tr.c.ListenerSlots())), &st); err != nil {
		t.Fatal(err)
	}
	if st.Cookie != cookie || st.Enqueued != 1 {
		t.Errorf("the window's first slot holds cookie %d with %d enqueued; want cookie %d, 1", st.Cookie, st.Enqueued, cookie)
	}
}

// acceptN accepts n connections from listener fd and closes them at cleanup.
func acceptN(t *testing.T, fd, n int) {
	t.Helper()
	for range n {
		nfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
		if err != nil {
			t.Fatalf("accept: %v", err)
		}
		t.Cleanup(func() { unix.Close(nfd) })
	}
}

// detachAcceptHooks detaches c's accept programs, as if accepts were made
// where trace cannot see them, and returns what attaches them again.
func detachAcceptHooks(t *testing.T, c *Collector) (reattach func()) {
	t.Helper()
	var detached []int
	for i, h := range c.hooks {
		if h.Program == bpfProgBlAcceptExit || h.Program == bpfProgBlSysExit {
			if err := c.links[i].Close(); err != nil {
				t.Fatal(err)
			}
			detached = append(detached, i)
		}
	}
	if len(detached) == 0 {
		t.Fatal("no accept hook attached")
	}
	return func() {
		t.Helper()
		_, ids, _ := hookPlan(ModeFull, true)
		for _, i := range detached {
			l, err := attachHook(c.hooks[i], programsOf(&c.objs)[c.hooks[i].Program], ids)
			if err != nil {
				t.Fatal(err)
			}
			c.links[i] = l
		}
	}
}

// Connections queued and accepted concurrently on every CPU: each wait is
// still timed exactly once (by its place in the queue, not from the queue's
// tail at sk_data_ready, which another CPU's enqueue can move meanwhile).
func TestAcceptWaitConcurrent(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	const clients, each, acceptors = 4, 250, 2
	const n = clients * each
	tr := startTracing(t)
	fd, addr := nstest.Listen(t, loopback(0), 4096, nstest.ListenOpts{})
	var wg sync.WaitGroup
	errs := make(chan error, clients+acceptors)
	for range acceptors {
		wg.Go(func() {
			for range n / acceptors {
				nfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
				if err != nil {
					errs <- fmt.Errorf("accept: %w", err)
					return
				}
				unix.Close(nfd)
			}
		})
	}
	for range clients {
		wg.Go(func() {
			for range each {
				c, err := net.Dial("tcp", addr.String())
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	l := tr.report(addr.Port())
	if l.Enqueued != n || l.Accepted != n || l.AcceptWait.Count != n {
		t.Errorf("enqueued %d, accepted %d, accept_wait_seconds.count %d; want %d each", l.Enqueued, l.Accepted, l.AcceptWait.Count, n)
	}
	t.Logf("%d of %d waits timed from their place, not matched to their connection", l.AcceptWait.Unmatched, n)
}

// A TCP_DEFER_ACCEPT listener whose clients send nothing: their final ACKs
// are dropped at the listener as defer-accept drops, and nothing overflows.
func TestDeferAcceptDrops(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	tr := startTracing(t)
	fd, addr := nstest.Listen(t, loopback(0), 16, nstest.ListenOpts{})
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, 30); err != nil {
		t.Fatal(err)
	}
	before, err := inspect.ReadCounters("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		nstest.Connect(t, addr)
	}
	var l *ListenerEvidence
	nstest.Eventually(t, 5*time.Second, "five defer-accept drops", func() bool {
		l = tr.report(addr.Port())
		return l.Drops[DeferAcceptReason] >= 5
	})
	after, err := inspect.ReadCounters("/proc")
	if err != nil {
		t.Fatal(err)
	}
	if l.Drops[ListenOverflowReason] != 0 || l.Enqueued != 0 {
		t.Errorf("overflows %d, enqueued %d: want none", l.Drops[ListenOverflowReason], l.Enqueued)
	}
	if rise := after["TcpExtTCPDeferAcceptDrop"] - before["TcpExtTCPDeferAcceptDrop"]; rise < l.Drops[DeferAcceptReason] {
		t.Errorf("drops %v, but TcpExtTCPDeferAcceptDrop rose only %d", l.Drops, rise)
	}
	for reason, n := range l.Drops {
		if reason != DeferAcceptReason && n > 0 {
			t.Errorf("drop reason %s: %d, want only %s", reason, n, DeferAcceptReason)
		}
	}
}

// A server that keeps accepting under RLIMIT_NOFILE 16 fails with EMFILE,
// reported against its listener and its PID.
func TestAcceptErrorsEMFILE(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	tr := startTracing(t)
	proc, port := startServer(t, "prlimit", "--nofile=16:16")
	tr.checkEMFILE(proc.Pid, port)
}

// checkEMFILE connects 20 clients to a server (pid) that keeps accepting
// under RLIMIT_NOFILE 16 and checks its EMFILE errors are counted against
// the listener and the process, after 1 to 15 accepts.
func (tr *tracing) checkEMFILE(pid int, port uint16) {
	t := tr.t
	t.Helper()
	for range 20 {
		nstest.Connect(t, loopback(port))
	}
	var l *ListenerEvidence
	nstest.Eventually(t, 10*time.Second, "EMFILE in accept_errors", func() bool {
		l = tr.report(port)
		for _, e := range l.AcceptErrors {
			if e.Errno == "EMFILE" && e.PID == pid && e.Count > 0 {
				return true
			}
		}
		return false
	})
	// A read takes the listeners' stats before the accept errors, so the
	// read that first shows the EMFILE may predate the accepts before it;
	// the next read holds them (the server accepts nothing more at EMFILE).
	l = tr.report(port)
	if l.Accepted == 0 || l.Accepted >= 16 {
		t.Errorf("accepted %d before EMFILE, want 1..15", l.Accepted)
	}
}

// A server stopped with SIGSTOP while connections queue: the programs see
// its last accept and when the queue began to hold connections again, from
// which the collector tells a stall (collect's TestTracedStall).
func TestQueueHeldSinceLastAccept(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	tr := startTracing(t)
	proc, port := startServer(t)
	nstest.Connect(t, loopback(port))
	nstest.Eventually(t, 5*time.Second, "the first connection accepted", func() bool { return tr.report(port).Accepted == 1 })
	// Stopped, as /proc says (kill returns before the signal is delivered,
	// and a server still in accept() would take the next connection).
	nstest.Stop(t, proc.Pid)
	stopped := time.Now()
	nstest.Connect(t, loopback(port))
	nstest.Connect(t, loopback(port))
	nstest.Eventually(t, 5*time.Second, "two connections queued", func() bool { return acceptQueue(t, port) == 2 })
	l := tr.report(port)
	if l.LastAcceptPID != proc.Pid || l.LastAccept.IsZero() || l.LastAccept.After(stopped) {
		t.Errorf("last accept by %d at %v, want pid %d before it stopped at %v", l.LastAcceptPID, l.LastAccept, proc.Pid, stopped)
	}
	if l.WaitingSince.Before(l.LastAccept) || l.Accepted != 1 || l.Enqueued != 3 {
		t.Errorf("waiting since %v (last accept %v), accepted %d, enqueued %d; want the queue held since after the accept, 1 of 3",
			l.WaitingSince, l.LastAccept, l.Accepted, l.Enqueued)
	}
}

// After Close no program of this collector is loaded: their IDs are gone.
func TestCloseDetachesEverything(t *testing.T) {
	nstest.RequireRoot(t)
	mountsBefore := tracefsMounts(t)
	c, err := Start(Options{})
	if err == ErrNoBTF {
		t.Skipf("this kernel has no BTF (/sys/kernel/btf/vmlinux): trace cannot run")
	}
	if err != nil {
		t.Fatal(err)
	}
	// Every hook but connect()'s entry, which waits for a full Unix listener.
	want := StartHooks
	hooks := c.Hooks()
	if len(hooks) != len(want) {
		t.Fatalf("%d programs attached, want %d", len(hooks), len(want))
	}
	// As root the syscall tracepoints' IDs can always be read, from a
	// tracefs mounted privately if need be: accept is not seen at the raw
	// sys_exit (a program run per system call), and no tracefs mount is
	// left in the process's (the host's) mount namespace.
	for i, h := range hooks {
		if h.Program != want[i].Program || h.Tracepoint != want[i].Tracepoint {
			t.Errorf("hook %d is %s at %s, want %s at %s", i, h.Program, h.Tracepoint, want[i].Program, want[i].Tracepoint)
		}
	}
	// A full Unix listener (in the test's temporary directory) makes the
	// next read attach connect()'s entry; Close detaches it with the rest.
	path := filepath.Join(t.TempDir(), "full.sock")
	nstest.ListenUnix(t, unix.SOCK_STREAM, path, 0)
	nstest.FillUnix(t, unix.SOCK_STREAM, path, 2)
	if _, err := c.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if hooks = c.Hooks(); len(hooks) != len(Hooks) || hooks[len(hooks)-1].Program != bpfProgBlConnectEnter || hooks[len(hooks)-1].ID == 0 {
		t.Fatalf("after a read found a Unix listener full: %+v, want connect()'s entry attached last", hooks)
	}
	if after := tracefsMounts(t); after != mountsBefore {
		t.Errorf("tracefs mounts %d before Start, %d after: a private mount leaked", mountsBefore, after)
	}
	for _, h := range hooks {
		p, err := ebpf.NewProgramFromID(ebpf.ProgramID(h.ID))
		if err != nil {
			t.Fatalf("program %s (id %d) not loaded while attached: %v", h.Program, h.ID, err)
		}
		p.Close()
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// The kernel frees a detached program after an RCU grace period.
	nstest.Eventually(t, 10*time.Second, "every program unloaded after Close", func() bool {
		still, err := Loaded(hooks)
		if err != nil {
			t.Fatal(err)
		}
		return len(still) == 0
	})
}

// tracefsMounts counts tracefs mounts in this process's mount namespace.
func tracefsMounts(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if _, fs, ok := strings.Cut(line, " - "); ok && strings.HasPrefix(fs, "tracefs ") {
			n++
		}
	}
	return n
}

// Where tracefs cannot be mounted, the accept program goes to the raw
// sys_exit tracepoint instead, and --check says why.
func TestAcceptHookFallback(t *testing.T) {
	saved := tracefsRoots
	tracefsRoots = []string{t.TempDir() + "/absent"}
	defer func() { tracefsRoots = saved }()
	hooks, ids, why := hookPlan(ModeFull, true)
	if why == nil || ids != nil {
		t.Fatalf("hookPlan with no tracefs: ids %v, fallback reason %v; want none and a reason", ids, why)
	}
	var fallback int
	for _, h := range hooks {
		if _, _, classic := classicTracepoint(h.Tracepoint); classic {
			t.Errorf("hook %s at %s needs tracefs", h.Program, h.Tracepoint)
		}
		if h == FallbackAcceptHook {
			fallback++
		}
	}
	classic := 0
	for _, h := range Hooks {
		if _, _, ok := classicTracepoint(h.Tracepoint); ok {
			classic++
		}
	}
	if fallback != 1 || classic != 4 || len(hooks) != len(Hooks)-classic+1 {
		t.Errorf("hooks %+v: want Hooks without the four syscall tracepoints (accept's, connect's), plus %+v", hooks, FallbackAcceptHook)
	}
	if os.Geteuid() != 0 {
		return
	}
	p, err := Check()
	if err == ErrNoBTF {
		t.Skipf("this kernel has no BTF (/sys/kernel/btf/vmlinux): trace cannot run")
	}
	if err != nil {
		t.Fatal(err)
	}
	if p.AcceptFallback == "" || !p.OK() {
		t.Errorf("Check without tracefs: accept_fallback %q, ok %v; want a reason and every hook attached: %+v", p.AcceptFallback, p.OK(), p.Hooks)
	}
}

// intervalHighWater closes an interval (a Snapshot) and returns the listener
// on port's high water in it, and the cumulative one.
func (tr *tracing) intervalHighWater(port uint16) (interval, cumulative uint32) {
	tr.t.Helper()
	l := tr.report(port)
	return l.IntervalHighWater, l.AcceptQueueHighWater
}

// Each Snapshot closes an interval with the listener's exact high water in
// it, not the running maximum: 5 queued then all accepted, then 2 queued,
// gives 5 then 2; an interval without events gives the length the queue
// held; one whose first event is an accept gives the length before it.
func TestIntervalHighWater(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	tr := startTracing(t)
	fd, addr := nstest.Listen(t, loopback(0), 8, nstest.ListenOpts{})
	port := addr.Port()
	connect := func(n int) {
		for range n {
			nstest.Connect(t, addr)
		}
	}
	queued := func(n uint32) {
		nstest.Eventually(t, 5*time.Second, fmt.Sprintf("%d queued", n), func() bool { return acceptQueue(t, port) == n })
	}
	check := func(what string, wantInterval, wantCumulative uint32) {
		t.Helper()
		if got, cum := tr.intervalHighWater(port); got != wantInterval || cum != wantCumulative {
			t.Errorf("%s: interval_high_water %d, accept_queue_high_water %d; want %d, %d", what, got, cum, wantInterval, wantCumulative)
		}
	}
	check("before any connection", 0, 0)
	connect(5)
	queued(5)
	acceptN(t, fd, 5)
	queued(0)
	check("5 queued, then all accepted", 5, 5)
	connect(2)
	queued(2)
	check("2 queued", 2, 5)
	check("nothing happened, 2 held", 2, 5)
	acceptN(t, fd, 1)
	queued(1)
	check("one accepted from 2", 2, 5)
	check("nothing happened, 1 held", 1, 5)

	// The first event after an interval the programs were not read at
	// closes it: the interval user space closes next held the length the
	// queue had before that event. (Snapshot advances the epoch and reads;
	// here the epoch is advanced early, as when events race with the read.)
	tr.c.mu.Lock()
	if err := tr.c.objs.CurEpoch.Set(tr.c.epoch + 1); err != nil {
		t.Fatal(err)
	}
	tr.c.mu.Unlock()
	connect(3)
	queued(4)
	check("1 held, 3 queued after the epoch advanced", 1, 5)
	check("3 queued", 4, 5)
}

// A listener whose stats the programs made at a drop, with no enqueue or
// accept while traced, is not tracked: its per-interval slots were never
// written, and the collector takes the queue's length from sock_diag
// instead (collect's TestTracedUntrackedQueue): here 2 connections queued
// before tracing began, then a TCP_DEFER_ACCEPT drop.
func TestUntrackedWithoutQueueEvents(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	fd, addr := nstest.Listen(t, loopback(0), 8, nstest.ListenOpts{})
	nstest.Connect(t, addr)
	nstest.Connect(t, addr)
	nstest.Eventually(t, 5*time.Second, "2 queued", func() bool { return acceptQueue(t, addr.Port()) == 2 })
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, 30); err != nil {
		t.Fatal(err)
	}
	tr := startTracing(t)
	nstest.Connect(t, addr)
	var l *ListenerEvidence
	nstest.Eventually(t, 5*time.Second, "a defer-accept drop", func() bool {
		l = tr.report(addr.Port())
		return l.Drops[DeferAcceptReason] > 0
	})
	if l.Tracked || l.Enqueued != 0 {
		t.Errorf("tracked %v, enqueued %d: want a listener with drops only, not tracked", l.Tracked, l.Enqueued)
	}
}
