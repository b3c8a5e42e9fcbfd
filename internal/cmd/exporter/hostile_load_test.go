package exporter_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/cmd/app"
	"github.com/backlogctl/backlogctl/internal/nstest"
)

func TestMain(m *testing.M) { nstest.Main(m, app.Main) }

// hostileSeconds is how long each phase of TestExporterUnderHostileClients
// runs; scripts/reliability.sh raises it for docs/RELIABILITY.md's figures.
func hostileSeconds(t *testing.T) time.Duration {
	if s := os.Getenv("BACKLOGCTL_HOSTILE_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("BACKLOGCTL_HOSTILE_SECONDS=%q: want a whole number of seconds", s)
		}
		return time.Duration(n) * time.Second
	}
	return 3 * time.Second
}

// phaseResult is one phase's figures, as docs/RELIABILITY.md reports them.
type phaseResult struct {
	scrapes, refused, errors, healthErrors int
	p50, p99                               time.Duration
	maxFDs                                 int
	maxRSS                                 int64 // bytes
	closedByExporter                       int64
	firstError                             string
}

// The exporter (a separate process, so its descriptors and memory are its
// own) keeps answering 50 concurrent scrapers and a liveness prober while
// 1,000 idle clients, then 200 slowloris clients, hold connections to it:
// no scrape times out or fails (a 503 from --web.max-requests is counted
// apart), /healthz always answers, and the hostile connections are closed
// by the exporter, not left to pile up.
func TestExporterUnderHostileClients(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	// 50 listeners holding 3 unaccepted connections each, with owners.
	for i := 0; i < 50; i++ {
		_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 16, nstest.ListenOpts{})
		for j := 0; j < 3; j++ {
			nstest.Connect(t, ep)
		}
	}
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), nstest.FreePort(t)).String()
	cmd := nstest.CLICommand("exporter", "--web.listen-address", addr)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	base := "http://" + addr
	nstest.Eventually(t, 30*time.Second, "the exporter to serve /healthz", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	d := hostileSeconds(t)
	phases := []struct {
		name    string
		hostile func(stop <-chan struct{}, closed *atomic.Int64)
	}{
		{"50 concurrent scrapers", nil},
		{"1,000 idle clients + 50 scrapers", func(stop <-chan struct{}, closed *atomic.Int64) {
			holdClients(addr, 1000, "", stop, closed)
		}},
		{"200 slowloris clients + 50 scrapers", func(stop <-chan struct{}, closed *atomic.Int64) {
			holdClients(addr, 200, "GET /metrics HTTP/1.1\r\nHost: x\r\n", stop, closed)
		}},
	}
	for _, p := range phases {
		pd := d
		if p.hostile != nil {
			// Long enough for the 5s header timeout to close hostile
			// connections while the phase runs.
			pd = max(d, 7*time.Second)
		}
		r := runPhase(t, cmd.Process.Pid, base, pd, p.hostile)
		t.Logf("hostile: %s, %s: %d scrapes, p50 %s, p99 %s, %d errors, %d refused (503), %d /healthz errors, %d descriptors at most, RSS %.1f MiB at most, %d hostile connections closed by the exporter",
			p.name, pd, r.scrapes, r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond), r.errors, r.refused,
			r.healthErrors, r.maxFDs, float64(r.maxRSS)/(1<<20), r.closedByExporter)
		if r.errors > 0 || r.healthErrors > 0 {
			t.Errorf("%s: %d scrape errors, %d /healthz errors (first: %s)", p.name, r.errors, r.healthErrors, r.firstError)
		}
		if r.scrapes == 0 {
			t.Errorf("%s: no scrape answered", p.name)
		}
		if p.hostile != nil && r.closedByExporter == 0 {
			t.Errorf("%s: the exporter closed none of the hostile connections", p.name)
		}
	}
	if hwm := statusKiB(cmd.Process.Pid, "VmHWM:"); hwm > 0 {
		t.Logf("hostile: exporter peak RSS (VmHWM) %.1f MiB", float64(hwm)/1024)
	}
}

// runPhase runs 50 scrapers and a /healthz prober for d while hostile (if
// any) holds its connections, sampling the exporter's descriptors and RSS.
func runPhase(t *testing.T, pid int, base string, d time.Duration, hostile func(<-chan struct{}, *atomic.Int64)) phaseResult {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var closed atomic.Int64
	if hostile != nil {
		wg.Add(1)
		go func() { defer wg.Done(); hostile(stop, &closed) }()
		// Let the hostile clients connect before scraping starts.
		time.Sleep(time.Second)
	}
	var mu sync.Mutex
	var r phaseResult
	var lat []time.Duration
	fail := func(health bool, what string) {
		mu.Lock()
		defer mu.Unlock()
		if health {
			r.healthErrors++
		} else {
			r.errors++
		}
		if r.firstError == "" {
			r.firstError = what
		}
	}
	// Prometheus's default scrape timeout.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	deadline := time.Now().Add(d)
	var load sync.WaitGroup
	for i := 0; i < 50; i++ {
		load.Add(1)
		go func() {
			defer load.Done()
			for time.Now().Before(deadline) {
				start := time.Now()
				resp, err := client.Get(base + "/metrics")
				if err != nil {
					fail(false, err.Error())
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				took := time.Since(start)
				switch {
				case err != nil:
					fail(false, err.Error())
				case resp.StatusCode == http.StatusServiceUnavailable:
					mu.Lock()
					r.refused++
					mu.Unlock()
				case resp.StatusCode != 200 || !strings.Contains(string(body), "backlogctl_listener_accept_queue"):
					fail(false, fmt.Sprintf("status %d, %d bytes", resp.StatusCode, len(body)))
				default:
					mu.Lock()
					r.scrapes++
					lat = append(lat, took)
					mu.Unlock()
				}
			}
		}()
	}
	load.Add(1)
	go func() { // a liveness probe: Kubernetes' default timeout is 1s, ours 10s
		defer load.Done()
		for time.Now().Before(deadline) {
			resp, err := client.Get(base + "/healthz")
			if err != nil {
				fail(true, err.Error())
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				fail(true, fmt.Sprintf("/healthz %d", resp.StatusCode))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for time.Now().Before(deadline) {
			if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
				r.maxFDs = max(r.maxFDs, len(ents))
			}
			r.maxRSS = max(r.maxRSS, statusKiB(pid, "VmRSS:")*1024)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	load.Wait()
	<-sampled
	close(stop)
	wg.Wait()
	client.CloseIdleConnections()
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		r.p50, r.p99 = lat[n/2], lat[min(n-1, n*99/100)]
	}
	r.closedByExporter = closed.Load()
	return r
}

// holdClients keeps n connections to addr open until stop: each sends
// header (if any) and then, every second, one more header line, never
// finishing a request; when the exporter closes one, it is counted and
// reopened, as an attacker would.
func holdClients(addr string, n int, header string, stop <-chan struct{}, closed *atomic.Int64) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				gone := make(chan struct{})
				go func() { // a read returns when the exporter closes
					bufio.NewReader(c).ReadByte()
					close(gone)
				}()
				if header != "" {
					io.WriteString(c, header)
				}
				tick := time.NewTicker(time.Second)
			hold:
				for {
					select {
					case <-stop:
						tick.Stop()
						c.Close()
						return
					case <-gone:
						closed.Add(1)
						break hold
					case <-tick.C:
						if header != "" {
							io.WriteString(c, "X-Slow: 1\r\n")
						}
					}
				}
				tick.Stop()
				c.Close()
			}
		}()
	}
	wg.Wait()
}

// statusKiB reads a "kB" field of /proc/PID/status (0 if absent).
func statusKiB(pid int, field string) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
