package collect

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/check"
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
)

// listenClosable opens a loopback listener the test closes itself (nstest.Listen
// closes at cleanup, too late for a listener that must vanish mid-test).
func listenClosable(t *testing.T, backlog int) (int, netip.AddrPort) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fd, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sa.(*unix.SockaddrInet4).Port))
}

// observeHere observes this network namespace.
func observeHere(ctx context.Context, o Options, w ObserveOptions) (*model.Observation, error) {
	got, _, err := Observe(ctx, o, w)
	if err != nil {
		return nil, err
	}
	return got[0].Observation, nil
}

// observeAsync runs Observe in the background and returns once its baseline
// is taken, with a function that waits for the result.
func observeAsync(t *testing.T, src Options, window, interval time.Duration) func() *model.Observation {
	t.Helper()
	started := make(chan struct{})
	type result struct {
		obs *model.Observation
		err error
	}
	done := make(chan result, 1)
	go func() {
		obs, err := observeHere(context.Background(), src, ObserveOptions{Window: window, Interval: interval, Started: func() { close(started) }})
		done <- result{obs, err}
	}()
	select {
	case <-started:
	case r := <-done:
		t.Fatalf("Observe ended before starting: %v", r.err)
	}
	return func() *model.Observation {
		r := <-done
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.obs
	}
}

func mustEval(t *testing.T, obs *model.Observation, exprs ...string) map[string]check.Result {
	t.Helper()
	var reqs []check.Requirement
	for _, s := range exprs {
		e, err := check.ParseExpr(s)
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, check.Requirement{Expr: e})
	}
	out := map[string]check.Result{}
	for i, r := range check.Evaluate(reqs, obs, check.EvalOptions{}) {
		out[exprs[i]] = r
	}
	return out
}

// Connects made while observing overflow a queue clamped to 2 by somaxconn:
// the window sees the counter and the listener's drops rise, and the full queue.
func TestObserveCatchesOverflowDuringWindow(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	nstest.SetSysctl(t, "net.core.somaxconn", 2)
	_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 100, nstest.ListenOpts{})
	wait := observeAsync(t, Options{Ports: []uint16{ep.Port()}}, 1500*time.Millisecond, 20*time.Millisecond)
	for i := 0; i < 20; i++ {
		nstest.Connect(t, ep)
	}
	obs := wait()
	res := mustEval(t, obs, "counter.TcpExtListenOverflows==0", "listener.drops==0", "listener.fill<1", "listener.accept_queue<=2")
	for expr, r := range res {
		if r.Status != check.StatusFail || !r.Windowed {
			t.Errorf("%s: %s (observed %s, windowed %v), want a windowed failure", expr, r.Status, r.Observed, r.Windowed)
		}
	}
	if got := res["listener.accept_queue<=2"].Observed.String(); got != "3" {
		t.Errorf("peak accept queue = %s, want 3 (backlog 2 holds backlog+1)", got)
	}
	if obs.Window == nil || obs.Window.Samples < 2 {
		t.Errorf("window = %+v, want several samples", obs.Window)
	}
}

// Overflows that happened before the window do not fail it: totals since
// boot are non-zero, the increase over a quiet window is zero.
func TestObserveIgnoresOverflowBeforeWindow(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	nstest.SetSysctl(t, "net.core.somaxconn", 2)
	fd, ep := listenClosable(t, 100)
	for i := 0; i < 20; i++ {
		nstest.Connect(t, ep)
	}
	nstest.Eventually(t, 5*time.Second, "overflows before the window", func() bool {
		c, err := inspect.ReadCounters("/proc")
		return err == nil && c["TcpExtListenOverflows"] > 0
	})
	// Closing the overflowing listener stops retransmitted handshakes from
	// overflowing it again during the window.
	unix.Close(fd)
	_, quiet := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 100, nstest.ListenOpts{})

	point := mustEval(t, observePoint(hostfs.Roots{}, inspect.Selection{}, false, nil), "counter.TcpExtListenOverflows==0")
	if r := point["counter.TcpExtListenOverflows==0"]; r.Status != check.StatusFail {
		t.Fatalf("without a window the total since boot should fail: %+v", r)
	}
	obs := observeAsync(t, Options{Ports: []uint16{quiet.Port()}}, 500*time.Millisecond, 50*time.Millisecond)()
	for expr, r := range mustEval(t, obs, "counter.TcpExtListenOverflows==0", "counter.TcpExtListenDrops==0", "listener.drops==0", "listener.fill<=0") {
		if r.Status != check.StatusPass {
			t.Errorf("%s over a quiet window: %s (observed %s, %s)", expr, r.Status, r.Observed, r.Reason)
		}
	}
}

// A queue filled and drained inside the window is judged by its peak; a
// listener opened during the window is marked as such, one closed as gone,
// and owners are found once, at the end.
func TestObservePeakFill(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	lfd, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 8, nstest.ListenOpts{})
	closing, _ := listenClosable(t, 8)
	wait := observeAsync(t, Options{Owners: OwnersOn}, 2*time.Second, 20*time.Millisecond)
	_, _ = nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 8, nstest.ListenOpts{})
	unix.Close(closing)
	for i := 0; i < 5; i++ {
		nstest.Connect(t, ep)
	}
	nstest.Eventually(t, 5*time.Second, "five connections queued", func() bool {
		ls, err := inspect.Listeners(nil, []uint16{ep.Port()})
		return err == nil && len(ls) == 1 && ls[0].AcceptQueue == 5
	})
	time.Sleep(300 * time.Millisecond) // several samples see the full queue
	for i := 0; i < 5; i++ {
		nfd, _, err := unix.Accept(lfd)
		if err != nil {
			t.Fatalf("accept: %v", err)
		}
		unix.Close(nfd)
	}
	obs := wait()

	var appeared, gone int
	for _, l := range obs.Listeners {
		if l.Appeared {
			appeared++
		}
		if l.Gone {
			gone++
		}
		if l.Endpoint == ep.String() && l.AcceptQueue != 5 {
			t.Errorf("%s peak accept queue = %d, want 5", ep, l.AcceptQueue)
		}
	}
	if appeared != 1 || gone != 1 {
		t.Errorf("appeared %d, gone %d listeners, want 1 and 1: %+v", appeared, gone, obs.Listeners)
	}
	res := mustEval(t, obs, "listener.accept_queue<=2", "listener.fill<=0.5", "process.open_fds>0")
	if r := res["listener.accept_queue<=2"]; r.Status != check.StatusFail || r.Observed != "5" || r.Where != ep.String() {
		t.Errorf("accept_queue<=2: %s observed %s at %s, want a failure at 5 on %s", r.Status, r.Observed, r.Where, ep)
	}
	if r := res["listener.fill<=0.5"]; r.Status != check.StatusFail {
		t.Errorf("fill<=0.5: %s observed %s, want a failure at 5/9", r.Status, r.Observed)
	}
	if r := res["process.open_fds>0"]; r.Status != check.StatusPass {
		t.Errorf("process.open_fds>0: %s (%s), want owners found at the end", r.Status, r.Reason)
	}
	now, err := inspect.Listeners(nil, []uint16{ep.Port()})
	if err != nil || len(now) != 1 || now[0].AcceptQueue != 0 {
		t.Errorf("after draining: %+v, %v; want an empty queue (the peak was in the window)", now, err)
	}
}
