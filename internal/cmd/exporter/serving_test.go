package exporter

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nstest"
)

// With --web.max-requests 2, while a snapshot is held: a second scrape
// shares it, a third waits for a turn and is answered 503 when its wait is
// over, and /healthz and / are answered as usual.
func TestMaxRequestsAndHealthzNeverWaits(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	o := newOpts()
	o.NoProcesses = true
	o.MaxRequests = 2
	o.turnWait = 200 * time.Millisecond
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()
	o.beforeSnapshot = func() { <-release }
	addr, stop := startExporter(o)
	defer stop()
	base := "http://" + addr
	held := make(chan int, 2)
	for i := 0; i < 2; i++ {
		go func() {
			code, _ := getStatus(base + "/metrics")
			held <- code
		}()
	}
	nstest.Eventually(t, 10*time.Second, "the second scrape to join the held snapshot", func() bool {
		return o.flight.sharers() == 1
	})
	if code, err := getStatus(base + "/metrics"); err != nil || code != http.StatusServiceUnavailable {
		t.Errorf("a third scrape over --web.max-requests 2: %d %v, want 503", code, err)
	}
	for _, path := range []string{"/healthz", "/"} {
		if code, err := getStatus(base + path); err != nil || code != 200 {
			t.Errorf("GET %s while the scrapes wait for a snapshot: %d %v, want 200", path, code, err)
		}
	}
	// The landing page links what is served, and nothing that is not.
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `href="/metrics"`) || !strings.Contains(string(page), `href="/healthz"`) || strings.Contains(string(page), `href="/debug/pprof`) {
		t.Errorf("landing page links: %s", page)
	}
	unblock()
	for i := 0; i < 2; i++ {
		if code := <-held; code != 200 {
			t.Errorf("held scrape: %d", code)
		}
	}
	// The slot is free again: a scrape is served.
	if code, err := getStatus(base + "/metrics"); err != nil || code != 200 {
		t.Errorf("a scrape after the held ones: %d %v", code, err)
	}
}

// With --web.max-requests 1, a scrape that arrives while another is being
// answered waits for its turn, then is answered.
func TestScrapeOverLimitWaitsForATurn(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	o := newOpts()
	o.NoProcesses = true
	o.MaxRequests = 1
	o.turnWait = time.Minute
	var snapshots atomic.Int64
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()
	o.beforeSnapshot = func() {
		if snapshots.Add(1) == 1 {
			<-release
		}
	}
	addr, stop := startExporter(o)
	defer stop()
	codes := make(chan int, 2)
	for i := 0; i < 2; i++ {
		go func() {
			code, err := getStatus("http://" + addr + "/metrics")
			if err != nil {
				t.Errorf("scrape: %v", err)
			}
			codes <- code
		}()
	}
	nstest.Eventually(t, 10*time.Second, "the first scrape to hold its snapshot", func() bool {
		return snapshots.Load() == 1
	})
	nstest.Eventually(t, 10*time.Second, "the second scrape to wait for a turn", func() bool {
		return o.waiting.Load() == 1
	})
	unblock()
	for i := 0; i < 2; i++ {
		if code := <-codes; code != 200 {
			t.Errorf("scrape %d: %d, want 200 (the second waits for its turn)", i, code)
		}
	}
}

// A client that trickles its request header (slowloris) is disconnected
// once the header timeout passes, however slowly it keeps sending.
func TestSlowHeaderDisconnected(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	_, addr := serveNoOwners(t, func(o *Options) { o.headerTimeout = 300 * time.Millisecond })
	c, br := dial(t, addr)
	if _, err := io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() {
		// The bound is a failure deadline: the exporter must close first.
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, err := br.ReadByte()
		closed <- err
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-closed:
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
				t.Fatalf("slow header: read returned %v, want the exporter to close the connection", err)
			}
			return
		case <-tick.C:
			io.WriteString(c, "X: y\r\n") // another header line, never the end
		}
	}
}

// The exposition carries the exporter's own metrics (build, process, Go,
// the handler's counts), and OpenMetrics when the scraper asks for it.
func TestSelfMetricsAndOpenMetrics(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	_, addr := serveNoOwners(t, func(*Options) {})
	fetch := func(accept string) (string, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.Header.Get("Content-Type"), string(body)
	}
	ctype, body := fetch("")
	if !strings.HasPrefix(ctype, "text/plain") {
		t.Errorf("no Accept header: Content-Type %q, want text/plain", ctype)
	}
	for _, want := range []string{
		`backlogctl_build_info{branch="",goarch=`,
		`revision="abc123"`, `version="1.2.3"`,
		"\nprocess_open_fds ", "\nprocess_resident_memory_bytes ", "\ngo_goroutines ",
		"\npromhttp_metric_handler_requests_in_flight ",
		"\nbacklogctl_listeners{",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	ctype, body = fetch("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
	if !strings.HasPrefix(ctype, "application/openmetrics-text") {
		t.Errorf("OpenMetrics asked for: Content-Type %q", ctype)
	}
	if !strings.HasSuffix(body, "# EOF\n") || !strings.Contains(body, "backlogctl_build_info{") {
		t.Errorf("OpenMetrics exposition does not end in # EOF or lacks build info: %.300s", body)
	}
}

// The old flag names still start the exporter; the new ones win and both
// at once is a usage error.
func TestDeprecatedFlags(t *testing.T) {
	tests := []struct {
		args []string
		want []string
		code int
	}{
		{nil, []string{DefaultListen}, 0},
		{[]string{"--listen", "127.0.0.1:1"}, []string{"127.0.0.1:1"}, 0},
		{[]string{"--max-connections", "16"}, []string{DefaultListen}, 0},
		{[]string{"--web.listen-address", ":1", "--web.listen-address", "[::1]:2"}, []string{":1", "[::1]:2"}, 0},
		{[]string{"--listen", ":1", "--web.listen-address", ":2"}, nil, cmdutil.ExitUsage},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			ios, _, _, _ := iostreams.Test()
			var got []string
			cmd := NewCmdExporter(&cmdutil.Factory{IOStreams: ios}, func(_ context.Context, o *Options) error {
				got = o.ListenAddresses
				return nil
			})
			cmd.SetArgs(tt.args)
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			err := cmd.Execute()
			if code := cmdutil.ExitCode(err); code != tt.code {
				t.Fatalf("exit %d (%v), want %d", code, err, tt.code)
			}
			if tt.code == 0 && !slices.Equal(got, tt.want) {
				t.Errorf("listen addresses %v, want %v", got, tt.want)
			}
		})
	}
}
