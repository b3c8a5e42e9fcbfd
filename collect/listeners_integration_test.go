package collect

import (
	"math"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/trace"
)

// With more listeners than the programs' table holds (17,000 opened after
// tracing started with a table for a few thousand), every listener given a
// connection is either counted exactly (enqueued 1) or marked untraced (and
// a note says so): none is a silent 0. Started with them there, tracing
// sizes its table for them and counts every one.
func TestMoreListenersThanTheTable(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	const n = 17000
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < n+100 {
		t.Fatalf("RLIMIT_NOFILE %d (%v): %d listeners need %d", lim.Cur, err, n, n+100)
	}
	// Ports for the listeners and their clients.
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_local_port_range", []byte("1024 65535"), 0); err != nil {
		t.Fatal(err)
	}
	small := tracedCollector(t, Options{})
	ports := map[uint16]bool{}
	for range n {
		_, addr := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 1, nstest.ListenOpts{})
		ports[addr.Port()] = true
	}
	connectAll := func(queued uint32) {
		t.Helper()
		// Each client connects and closes at once: its connection stays
		// queued, and it holds no descriptor.
		work := make(chan uint16)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for p := range work {
					c, err := net.Dial("tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), p).String())
					if err != nil {
						t.Error(err)
						continue
					}
					c.Close()
				}
			})
		}
		for p := range ports {
			work <- p
		}
		close(work)
		wg.Wait()
		nstest.Eventually(t, 30*time.Second, "a connection more queued at every listener", func() bool {
			m, err := Snapshot(Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range m.Namespaces[0].Listeners {
				if ports[l.Port] && l.AcceptQueue != queued {
					return false
				}
			}
			return true
		})
	}
	connectAll(1)
	m, err := small.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var counted, untraced int
	for _, l := range m.Namespaces[0].Listeners {
		if !ports[l.Port] {
			continue
		}
		switch tr := l.Traced; {
		case tr.Enqueued == 1 && !tr.Untraced:
			counted++
		case tr.Enqueued == 0 && tr.Untraced && tr.UntracedEvents <= 1:
			// 1 event, or 0 when the programs had no room to name it
			// (then every listener without figures is marked).
			untraced++
		default:
			t.Errorf("listener %d: enqueued %d, untraced %v (%d events): want 1 and traced, or 0 and untraced", l.Port, tr.Enqueued, tr.Untraced, tr.UntracedEvents)
		}
	}
	slots := m.Trace.Tracer.ListenerSlots
	t.Logf("a table of %d slots (%.1f MiB of maps and programs): %d listeners counted, %d untraced; notes: %v", slots, float64(m.Trace.Tracer.MapMemoryBytes)/(1<<20), counted, untraced, m.Notes)
	if counted+untraced != n || untraced == 0 || counted > slots {
		t.Errorf("%d counted, %d untraced of %d listeners in %d slots", counted, untraced, n, slots)
	}
	if m.Trace.Tracer.UntracedEvents != uint64(n-counted) || len(m.Notes) == 0 {
		t.Errorf("untraced_events %d, notes %q: want %d and a note", m.Trace.Tracer.UntracedEvents, m.Notes, n-counted)
	}
	small.Close()

	// Sized from the listeners there are: every one is counted.
	sized := tracedCollector(t, Options{})
	connectAll(2)
	if m, err = sized.Snapshot(); err != nil {
		t.Fatal(err)
	}
	counted = 0
	for _, l := range m.Namespaces[0].Listeners {
		if ports[l.Port] && l.Traced.Enqueued == 1 && !l.Traced.Untraced {
			counted++
		}
	}
	tr := m.Trace.Tracer
	t.Logf("a table of %d slots: %d of %d listeners counted; maps and programs %.1f MiB", tr.ListenerSlots, counted, n, float64(tr.MapMemoryBytes)/(1<<20))
	if want := trace.ListenerSlotsFor(int(math.Ceil(n * trace.ListenerHeadroom))); tr.ListenerSlots < want {
		t.Errorf("%d slots, want at least %d", tr.ListenerSlots, want)
	}
	if counted != n || tr.UntracedEvents != 0 {
		t.Errorf("%d of %d listeners counted, %d untraced events", counted, n, tr.UntracedEvents)
	}
}
