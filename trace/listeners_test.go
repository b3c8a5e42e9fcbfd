package trace

import (
	"math"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/netns"
)

// With more listeners than its table holds (17,000 opened after trace
// started with a table for a few thousand), every listener given a
// connection is either counted exactly (enqueued 1) or reported untraced
// (untraced_events, a note): none is a silent 0. Started with them there,
// trace sizes its table for them and traces every one.
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
	ns, err := netns.Current()
	if err != nil {
		t.Fatal(err)
	}
	small, err := Start(Options{Netns: []uint64{ns.Inode}})
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	ports := map[uint16]bool{}
	for range n {
		_, addr := nstest.Listen(t, loopback(0), 1, nstest.ListenOpts{})
		ports[addr.Port()] = true
	}
	connectAll := func(queued uint32) *inspect.MultiSnapshot {
		t.Helper()
		// Each client connects and closes at once: its connection stays
		// queued, and it holds no descriptor.
		work := make(chan uint16)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for p := range work {
					c, err := net.Dial("tcp", loopback(p).String())
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
		var m *inspect.MultiSnapshot
		nstest.Eventually(t, 30*time.Second, "a connection more queued at every listener", func() bool {
			snap, err := inspect.Gather(inspect.Options{})
			if err != nil {
				t.Fatal(err)
			}
			m = &inspect.MultiSnapshot{Time: snap.Time, Namespaces: []inspect.NamespaceSnapshot{{Netns: ns, Snapshot: snap}}}
			for _, l := range snap.Listeners {
				if ports[l.Port] && l.AcceptQueue != queued {
					return false
				}
			}
			return true
		})
		return m
	}
	m := connectAll(1)
	ev, err := small.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r := Join(ev, JoinInput{Base: NewBaseline(m), Now: m, Stall: time.Hour})
	var counted, untraced int
	for _, l := range r.Listeners {
		if !ports[l.Port] {
			continue
		}
		switch {
		case l.Enqueued == 1 && !l.Untraced:
			counted++
		case l.Enqueued == 0 && l.Untraced && l.UntracedEvents <= 1:
			// 1 event, or 0 when the untraced map had no room to name it
			// (then every listener without figures is marked).
			untraced++
		default:
			t.Errorf("listener %d: enqueued %d, untraced %v (%d events): want 1 and traced, or 0 and untraced (1)", l.Port, l.Enqueued, l.Untraced, l.UntracedEvents)
		}
	}
	t.Logf("a table of %d slots (%.1f MiB of maps and programs): %d listeners counted, %d untraced; note: %v", ev.ListenerSlots, float64(small.Memory())/(1<<20), counted, untraced, r.Notes)
	if counted+untraced != n || untraced == 0 || counted > ev.ListenerSlots {
		t.Errorf("%d counted, %d untraced of %d listeners in %d slots", counted, untraced, n, ev.ListenerSlots)
	}
	if r.Tracer.UntracedEvents != n-uint64(counted) || len(r.Notes) == 0 {
		t.Errorf("tracer.untraced_events %d, notes %q: want %d and a note", r.Tracer.UntracedEvents, r.Notes, n-counted)
	}
	small.Close()

	// Sized from the listeners there are: every one is traced.
	o := OptionsFor(m, false, 0)
	if want := int(math.Ceil(n * ListenerHeadroom)); o.Listeners < want {
		t.Fatalf("sized for %d listeners, want at least %d", o.Listeners, want)
	}
	sized, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	defer sized.Close()
	m = connectAll(2)
	if ev, err = sized.Snapshot(); err != nil {
		t.Fatal(err)
	}
	r = Join(ev, JoinInput{Base: NewBaseline(m), Now: m, Stall: time.Hour})
	counted = 0
	for _, l := range r.Listeners {
		if ports[l.Port] && l.Enqueued == 1 && !l.Untraced {
			counted++
		}
	}
	t.Logf("a table of %d slots: %d of %d listeners counted; the maps and programs take %.1f MiB of kernel memory", ev.ListenerSlots, counted, n, float64(sized.Memory())/(1<<20))
	if counted != n || ev.UntracedEvents != 0 {
		t.Errorf("%d of %d listeners counted, %d untraced events", counted, n, ev.UntracedEvents)
	}
}
