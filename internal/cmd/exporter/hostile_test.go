package exporter

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
)

// dialIdle opens n TCP connections to addr that send nothing; they are
// closed when the test ends.
func dialIdle(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	return conns
}

// serveNoOwners starts an exporter without the owners walk, changed by
// mod, for the serving tests; it is stopped when the test ends.
func serveNoOwners(t *testing.T, mod func(*Options)) (*Options, string) {
	t.Helper()
	o := newOpts()
	o.NoProcesses = true
	mod(o)
	addr, stop := startExporter(o)
	t.Cleanup(func() { stop() })
	return o, addr
}

// getStatus GETs url with a Prometheus-like scrape timeout; the timeout is
// the failure bound, not what is asserted.
func getStatus(url string) (int, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// 1,000 idle TCP connections (nothing sent on them) must not keep a scrape
// or /healthz from being answered: anyone who can reach the port must not
// be able to blind monitoring or fail a liveness probe.
func TestIdleClientsDoNotBlindScrapes(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	_, addr := serveNoOwners(t, func(*Options) {})
	dialIdle(t, addr, 1000)
	for _, path := range []string{"/healthz", "/metrics", "/healthz"} {
		code, err := getStatus("http://" + addr + path)
		if err != nil || code != 200 {
			t.Errorf("GET %s with 1,000 idle clients connected: %d %v", path, code, err)
		}
	}
}
