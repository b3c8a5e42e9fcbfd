package exporter

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
)

// get sends one keep-alive GET /healthz on c and reads the response.
func get(t *testing.T, c net.Conn, br *bufio.Reader) *http.Response {
	t.Helper()
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatalf("writing a request: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading a response: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// dial connects to the exporter; the connection is closed when the test ends.
func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// A kept-alive connection left idle is closed by the exporter.
func TestIdleConnectionClosed(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	_, addr := serveNoOwners(t, func(o *Options) { o.IdleTimeout = 300 * time.Millisecond })
	c, br := dial(t, addr)
	if resp := get(t, c, br); resp.Close {
		t.Fatal("the first response already closes the connection: nothing left to time out")
	}
	// The bound is a failure deadline, not the behaviour asserted: the
	// server must close the connection (EOF), not leave it open.
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: read returned %v, want EOF (closed by the exporter)", err)
	}
}

// Scrapes that arrive while a snapshot is being taken share it: n
// overlapping scrapes cost one snapshot, and each gets the full exposition.
func TestOverlappingScrapesShareOneSnapshot(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 8, nstest.ListenOpts{})
	o := newOpts()
	h, err := o.Handler()
	if err != nil {
		t.Fatal(err)
	}
	var snapshots atomic.Int64
	release := make(chan struct{})
	o.beforeSnapshot = func() {
		snapshots.Add(1)
		<-release
	}
	const n = 8
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
			if rec.Code != 200 || !strings.Contains(rec.Body.String(), "backlogctl_listener_accept_queue") {
				t.Errorf("shared scrape: %d %.200s", rec.Code, rec.Body.String())
			}
		}()
	}
	nstest.Eventually(t, 10*time.Second, "the other scrapes to wait for the first one's snapshot", func() bool {
		return o.flight.sharers() == n-1
	})
	close(release)
	wg.Wait()
	if got := snapshots.Load(); got != 1 {
		t.Errorf("%d overlapping scrapes took %d snapshots, want 1", n, got)
	}
	// A scrape after the burst takes a fresh one.
	scrape(t, h)
	if got := snapshots.Load(); got != 2 {
		t.Errorf("after the burst, a new scrape took %d snapshots in all, want 2", got)
	}
}
