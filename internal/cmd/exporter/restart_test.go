package exporter

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/nstest"
)

// overflowingListener listens on ep with backlog 0, fills its accept queue
// with one connection, and sends it drops SYNs, each dropped on the full
// queue (tcp_conn_request: sk_acceptq_is_full). The clients are closed at
// once, so no retransmission adds to the count. It returns the listener's
// descriptor, which the caller closes.
func overflowingListener(t *testing.T, ep netip.AddrPort, drops uint32) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, nstest.Sockaddr(ep)); err != nil {
		t.Fatalf("bind %s: %v", ep, err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	nstest.Connect(t, ep) // the one connection a backlog of 0 holds
	drops0 := listenerDrops(t, ep)
	nstest.Eventually(t, 5*time.Second, "the accept queue to fill", func() bool {
		ls, err := inspect.Listeners(nil, []uint16{ep.Port()})
		return err == nil && len(ls) == 1 && ls[0].AcceptQueue == 1
	})
	for i := uint32(0); i < drops; i++ {
		c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Connect(c, nstest.Sockaddr(ep)); err != nil && err != unix.EINPROGRESS {
			t.Fatal(err)
		}
		unix.Close(c)
	}
	nstest.Eventually(t, 10*time.Second, fmt.Sprintf("%d drops", drops), func() bool {
		return listenerDrops(t, ep) >= drops0+drops
	})
	return fd
}

func listenerDrops(t *testing.T, ep netip.AddrPort) uint32 {
	t.Helper()
	ls, err := inspect.Listeners(nil, []uint16{ep.Port()})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 {
		return 0
	}
	return ls[0].DropCount()
}

// A real Prometheus server sees a listener restarted between its scrapes as
// a counter reset: 720 drops on the old socket, then 876 on the new one
// counts 876, not +156, and resets() counts one.
func TestPrometheusSeesListenerRestart(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	promBin := lookTool(t, "prometheus")
	ep := netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t)))
	old := overflowingListener(t, ep, 720)
	before := listenerDrops(t, ep)

	// Snapshots wait while the gate is held, so the restart happens
	// between two scrapes, as it would under a slower scrape interval.
	var gate sync.Mutex
	o := newOpts()
	o.beforeSnapshot = func() { gate.Lock(); gate.Unlock() }
	target, stop := startExporter(o)
	t.Cleanup(func() { stop() })
	web, logPath := startPrometheus(t, promBin, target)

	series := fmt.Sprintf(`backlogctl_listener_drops_total{port="%d",address="127.0.0.1"}`, ep.Port())
	waitFor := func(what string, ok func(v float64) bool, query string) {
		t.Helper()
		var last string
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
			s, err := promQuery(web, query)
			if err != nil {
				last = err.Error()
				continue
			}
			if v, err := strconv.ParseFloat(s, 64); err == nil && ok(v) {
				return
			}
			last = "value " + s
		}
		log, _ := os.ReadFile(logPath)
		t.Fatalf("Prometheus never had %s for %s (last: %s); its log:\n%s", what, query, last, tail(string(log), 3000))
	}
	waitFor(fmt.Sprint(before), func(v float64) bool { return v == float64(before) }, series)

	gate.Lock()
	unix.Close(old)
	restarted := overflowingListener(t, ep, 876)
	t.Cleanup(func() { unix.Close(restarted) })
	after := listenerDrops(t, ep)
	if after < before {
		t.Fatalf("the new socket has %d drops, fewer than the old %d: nothing to prove", after, before)
	}
	gate.Unlock()

	waitFor(fmt.Sprint(after), func(v float64) bool { return v == float64(after) }, series)
	waitFor("a reset", func(v float64) bool { return v >= 1 }, "resets("+series+"[10m])")
	// Without the reset Prometheus would count after-before (156).
	waitFor(fmt.Sprintf("an increase of at least %d", after), func(v float64) bool { return v >= float64(after) },
		"increase("+series+"[10m])")
}
