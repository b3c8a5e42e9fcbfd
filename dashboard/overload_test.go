package dashboard

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/internal/cmd/app"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/trace/tracetest"
)

func TestMain(m *testing.M) { nstest.Main(m, app.Main) }

// rateInterval stands for $__rate_interval: four scrapes of the suite's
// Prometheus and then some.
const rateInterval = "10s"

// Every query of every panel returns data from a real Prometheus scraping
// `backlogctl exporter --trace` while the test's namespace is overloaded:
// a listener whose owner accepts slowly (its queue fills, handshakes
// overflow at SYN and ACK time and are dropped), a listener nobody accepts
// from (stalled), and a server at its descriptor limit whose accept()
// fails with EMFILE, and a listener whose handshakes never complete (its
// SYN queue holds them). Each query must show the overload: some sample
// above zero during the run. With BACKLOGCTL_DASHBOARD_PLOTS=DIR it also plots each
// panel's queries over the run into DIR (gnuplot), as docs/DASHBOARD.md
// shows them.
func TestDashboardQueriesReturnData(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	tracetest.Require(t)
	queries := targets(t)
	stop := make(chan struct{})
	var load sync.WaitGroup
	t.Cleanup(func() { close(stop); load.Wait() })
	slowAcceptor(t, stop, &load)
	stalledListener(t)
	halfOpenListener(t)
	emfileAcceptor(t, stop, &load)

	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), nstest.FreePort(t)).String()
	// Full mode: the accept() errors panel needs the syscall tracepoint.
	exp := nstest.CLICommand("exporter", "--trace", "--trace-mode", "full", "--web.listen-address", addr)
	var expErr nstest.SyncBuffer
	exp.Stderr = &expErr
	if err := exp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exp.Process.Kill(); exp.Wait() })
	start := time.Now()
	prom := nstest.StartPrometheus(t, []string{addr}, map[string]string{"node": "node-a"})

	pending := map[int]bool{}
	for i := range queries {
		pending[i] = true
	}
	last := map[int]string{}
	deadline := time.Now().Add(3 * time.Minute)
	for len(pending) > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Second)
		for i := range pending {
			res, err := prom.QueryRange(Expand(queries[i].Expr, rateInterval), start, time.Now(), time.Second)
			switch {
			case err != nil:
				last[i] = err.Error()
			case !aboveZero(res):
				last[i] = "no sample above zero: " + describe(res)
			default:
				delete(pending, i)
				last[i] = describe(res)
			}
		}
	}
	for i, q := range queries {
		t.Logf("%s: %s", q.Panel, last[i])
	}
	for i := range pending {
		t.Errorf("panel %q: %s returned %s", queries[i].Panel, queries[i].Expr, last[i])
	}
	if t.Failed() {
		t.Logf("exporter: %s", expErr.String())
		b, _ := os.ReadFile(prom.Log)
		t.Logf("prometheus: %.3000s", b)
		return
	}
	if dir := os.Getenv("BACKLOGCTL_DASHBOARD_PLOTS"); dir != "" {
		// Run on, so the plots show the overload's course.
		if s, err := strconv.Atoi(os.Getenv("BACKLOGCTL_DASHBOARD_SECONDS")); err == nil && s > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(s) * time.Second)))
		}
		plot(t, prom, queries, dir, start, time.Now())
	}
}

// aboveZero: some series has a sample above zero (NaN is not).
func aboveZero(res []nstest.PromSeries) bool {
	for _, s := range res {
		for _, v := range s.Values {
			if v > 0 {
				return true
			}
		}
	}
	return false
}

func describe(res []nstest.PromSeries) string {
	var parts []string
	for _, s := range res {
		keys := make([]string, 0, len(s.Labels))
		for k, v := range s.Labels {
			if v != "" && k != "job" && k != "instance" && k != "netns" {
				keys = append(keys, k+"="+v)
			}
		}
		sort.Strings(keys)
		peak := math.Inf(-1)
		for _, v := range s.Values {
			if !math.IsNaN(v) {
				peak = math.Max(peak, v)
			}
		}
		parts = append(parts, fmt.Sprintf("{%s} peak %.4g", strings.Join(keys, ","), peak))
		if len(parts) == 4 {
			parts = append(parts, fmt.Sprintf("... %d series", len(res)))
			break
		}
	}
	return strings.Join(parts, "; ")
}

// slowAcceptor is a listener (backlog 8) whose owner accepts one
// connection every 5ms while six clients connect as fast as they can: the
// queue stays full, handshakes overflow and wait.
func slowAcceptor(t *testing.T, stop <-chan struct{}, load *sync.WaitGroup) {
	fd, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 8, nstest.ListenOpts{})
	until(stop, load, func() {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, _ := unix.Poll(pfd, 100); n <= 0 {
			return
		}
		if c, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC); err == nil {
			unix.Close(c)
		}
		time.Sleep(5 * time.Millisecond)
	})
	connectLoop(ep.String(), 6, 0, stop, load)
}

// connectLoop has n clients connect to addr and hang up, pausing between
// connections, until stop.
func connectLoop(addr string, n int, pause time.Duration, stop <-chan struct{}, load *sync.WaitGroup) {
	for i := 0; i < n; i++ {
		until(stop, load, func() {
			if c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond); err == nil {
				c.Close()
			}
			time.Sleep(pause)
		})
	}
}

// until runs step over and over in a goroutine of load until stop.
func until(stop <-chan struct{}, load *sync.WaitGroup, step func()) {
	load.Add(1)
	go func() {
		defer load.Done()
		for {
			select {
			case <-stop:
				return
			default:
				step()
			}
		}
	}()
}

// stalledListener holds three connections nobody accepts.
func stalledListener(t *testing.T) {
	_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 4, nstest.ListenOpts{})
	for i := 0; i < 3; i++ {
		nstest.Connect(t, ep)
	}
}

// halfOpenListener has five handshakes whose final ACK is dropped, so
// their request sockets stay in its SYN queue.
func halfOpenListener(t *testing.T) {
	_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 16, nstest.ListenOpts{})
	nstest.DropFinalACK(t, ep.Port())
	for i := 0; i < 5; i++ {
		c, err := net.DialTimeout("tcp", ep.String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
}

// emfileAcceptor runs a server at 32 descriptors whose accept() fails
// with EMFILE, and connects to it every 50ms.
func emfileAcceptor(t *testing.T, stop <-chan struct{}, load *sync.WaitGroup) {
	srv := nstest.StartEMFILEAcceptor(t, 32)
	connectLoop(srv.Addr.String(), 1, 50*time.Millisecond, stop, load)
}
