package exporter

import (
	"fmt"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/trace/tracetest"
)

// tracedExporter starts exporter --trace (no owners) beside a listener on
// 127.0.0.1 with backlog 8 that nobody accepts from, and returns its
// descriptor, its address and a function that scrapes one of its metrics.
func tracedExporter(t *testing.T) (int, netip.AddrPort, func(name string) float64) {
	t.Helper()
	tracetest.Require(t)
	fd, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 8, nstest.ListenOpts{})
	o := newOpts()
	o.Trace, o.NoProcesses = true, true
	h, err := o.Handler()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return fd, ep, func(name string) float64 {
		t.Helper()
		return value(t, scrape(t, h), name, map[string]string{"address": "127.0.0.1", "port": strconv.Itoa(int(ep.Port()))})
	}
}

// exporter --trace's high-water fill is the peak since the previous scrape,
// not since tracing started: a listener (backlog 8) that gets 5
// connections, all accepted before the scrape, shows 5/9 at that scrape,
// then 0 at the next; 2 waiting connections show 2/9 at every scrape while
// they wait (no event: the length held).
func TestTracedHighWaterSinceLastScrape(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	fd, ep, metric := tracedExporter(t)
	fill := func() float64 {
		t.Helper()
		return metric("backlogctl_listener_accept_queue_high_water_fill")
	}
	queued := func(n uint32) {
		nstest.Eventually(t, 5*time.Second, fmt.Sprintf("%d queued", n), func() bool {
			ls, err := inspect.Listeners(nil, []uint16{ep.Port()})
			return err == nil && len(ls) == 1 && ls[0].AcceptQueue == n
		})
	}
	check := func(what string, want float64) {
		t.Helper()
		if got := fill(); got != want {
			t.Errorf("%s: high_water_fill %v, want %v", what, got, want)
		}
	}
	check("nothing queued yet", 0)
	for range 5 {
		nstest.Connect(t, ep)
	}
	queued(5)
	for range 5 {
		c, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(c) })
	}
	queued(0)
	check("5 queued and accepted since the last scrape", 5.0/9)
	check("nothing since the last scrape", 0)
	nstest.Connect(t, ep)
	nstest.Connect(t, ep)
	queued(2)
	check("2 queued since the last scrape", 2.0/9)
	check("2 held since the last scrape", 2.0/9)
}

// exporter --trace's oldest-wait gauge is a stall in progress: two
// connections left in the queue (nobody accepts) show a wait that grows
// from scrape to scrape, as old as they are, though no accept() has ended
// one; once accepted it is 0 again.
func TestTracedOldestWaitIsAStallInProgress(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	fd, ep, metric := tracedExporter(t)
	oldest := func() float64 {
		t.Helper()
		return metric("backlogctl_listener_accept_queue_oldest_wait_seconds")
	}
	if got := oldest(); got != 0 {
		t.Errorf("nothing queued: oldest wait %v, want 0", got)
	}
	connected := time.Now()
	nstest.Connect(t, ep)
	nstest.Connect(t, ep)
	nstest.Eventually(t, 5*time.Second, "2 queued", func() bool {
		ls, err := inspect.Listeners(nil, []uint16{ep.Port()})
		return err == nil && len(ls) == 1 && ls[0].AcceptQueue == 2
	})
	var last float64
	nstest.Eventually(t, nstest.MinBackstop, "the oldest wait to pass 1s", func() bool {
		got := oldest()
		if got < last || got > time.Since(connected).Seconds() {
			t.Fatalf("oldest wait %v after %v (the scrape before: %v): want it growing, and no older than the connection", got, time.Since(connected), last)
		}
		last = got
		return got >= 1
	})
	for range 2 {
		c, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(c) })
	}
	if got := oldest(); got != 0 {
		t.Errorf("both accepted: oldest wait %v, want 0", got)
	}
}
