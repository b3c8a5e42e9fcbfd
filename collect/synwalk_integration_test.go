package collect

import (
	"net/netip"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/nstest"
)

// A Collector leaves out the walk of request sockets only while none can
// exist, and its SYN-queue figure always matches a walk: quiet, the walk is
// skipped; half-open handshakes (their final ACKs dropped) are counted at
// once and walked for as long as they last, though no segment arrives;
// once they expire the walk is skipped again.
func TestSynQueueWalkSkippedOnlyWhenEmpty(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	nstest.SetSysctl(t, "net.ipv4.tcp_synack_retries", 1) // requests expire after ~3 s
	_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 64, nstest.ListenOpts{})
	nstest.DropFinalACK(t, ep.Port())
	c, err := NewCollector(Options{Ports: []uint16{ep.Port()}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := c.o.synWalks
	synQueue := func() (got, walked uint32) {
		m, err := c.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		ls, err := inspect.Listeners(nil, []uint16{ep.Port()})
		if err != nil {
			t.Fatal(err)
		}
		return nstest.FindListener(t, m.Namespaces[0].Listeners, ep.Port()).SynQueue, nstest.FindListener(t, ls, ep.Port()).SynQueue
	}
	check := func(want string, ok func(got uint32) bool) {
		nstest.Eventually(t, 10*time.Second, want, func() bool {
			got, walked := synQueue()
			if got != walked {
				// A request may arrive or expire between the two reads:
				// only a difference that lasts is an error.
				t.Logf("syn_queue %d, a walk right after: %d", got, walked)
				return false
			}
			return ok(got)
		})
	}
	check("the walk skipped in a quiet namespace", func(uint32) bool { return w.skipped.Load() > 0 })

	const n = 3
	for range n {
		nstest.Connect(t, ep)
	}
	check("3 half-open handshakes counted", func(got uint32) bool { return got == n })
	before := w.skipped.Load()
	for range 3 {
		if got, walked := synQueue(); got != n {
			t.Errorf("syn_queue %d while %d handshakes are half-open (a walk: %d)", got, n, walked)
		}
	}
	if after := w.skipped.Load(); after != before {
		t.Errorf("the walk was skipped %d times while request sockets existed", after-before)
	}
	check("the requests to expire", func(got uint32) bool { return got == 0 })
	skipped := w.skipped.Load()
	check("the walk skipped again once none is left", func(got uint32) bool { return got == 0 && w.skipped.Load() > skipped })
}

// watch's sampler follows the same rule: quiet, its SYN-queue recounts
// skip the walk; half-open handshakes are counted at the next recount, and
// walked while they last.
func TestWatchSynQueueWalkSkippedOnlyWhenEmpty(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 64, nstest.ListenOpts{})
	nstest.DropFinalACK(t, ep.Port())
	w, err := NewWatcher(Options{Ports: []uint16{ep.Port()}}, WatchOptions{SynEvery: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	target := w.targets()[0]
	peakSynQueue := func() uint32 {
		if err := w.Sample(true); err != nil {
			t.Fatal(err)
		}
		rs, err := w.Report(time.Now(), false)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range rs[0].Listeners {
			if l.Port == ep.Port() {
				return l.PeakSynQueue
			}
		}
		t.Fatalf("no listener on %s in the report", ep)
		return 0
	}
	nstest.Eventually(t, 10*time.Second, "a recount to skip the walk", func() bool {
		return peakSynQueue() == 0 && target.syn.skipped.Load() > 0
	})
	const n = 3
	for range n {
		nstest.Connect(t, ep)
	}
	nstest.Eventually(t, 10*time.Second, "3 half-open handshakes counted", func() bool { return peakSynQueue() == n })
	before := target.syn.skipped.Load()
	for range 3 {
		if got := peakSynQueue(); got != n {
			t.Errorf("peak_syn_queue %d while %d handshakes are half-open", got, n)
		}
	}
	if after := target.syn.skipped.Load(); after != before {
		t.Errorf("the walk was skipped %d times while request sockets existed", after-before)
	}
}
