package exporter

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
)

// lookTool finds a binary the suite installs, or skips (fails under CI).
func lookTool(t *testing.T, name string) string { return nstest.LookTool(t, name) }

// freeLoopbackPort asks the kernel for an unused port on 127.0.0.1.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// A real Prometheus server scrapes the exporter every second, and a listener
// metric comes back through its HTTP query API. Everything runs on the test
// namespace's loopback.
func TestPrometheusScrapesExporter(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	promBin := lookTool(t, "prometheus")
	nstest.SetSysctl(t, "net.core.somaxconn", 37)
	_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 1000, nstest.ListenOpts{})

	target, stop := startExporter(newOpts())
	t.Cleanup(func() { stop() })
	web, logPath := startPrometheus(t, promBin, target)

	query := fmt.Sprintf(`backlogctl_listener_backlog{port="%d",address="127.0.0.1"}`, ep.Port())
	var last string
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		v, err := promQuery(web, query)
		if err != nil {
			last = err.Error()
			continue
		}
		if v == "37" {
			return
		}
		last = "value " + v
	}
	log, _ := os.ReadFile(logPath)
	t.Fatalf("Prometheus never returned backlog 37 for %s (last: %s); its log:\n%s", query, last, tail(string(log), 3000))
}

// startPrometheus runs a Prometheus server that scrapes target every second,
// on the test namespace's loopback, until the test ends; it returns the
// address of its web API and the path of its log.
func startPrometheus(t *testing.T, _ string, target string, flags ...string) (web, logPath string) {
	t.Helper()
	p := nstest.StartPrometheus(t, []string{target}, nil, flags...)
	return p.Web, p.Log
}

// promQuery runs an instant query and returns the single sample's value.
func promQuery(web, query string) (string, error) {
	resp, err := http.Get("http://" + web + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", err
	}
	if body.Status != "success" || len(body.Data.Result) != 1 {
		return "", fmt.Errorf("status %s, %d results", body.Status, len(body.Data.Result))
	}
	s, _ := body.Data.Result[0].Value[1].(string)
	return s, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return strings.TrimSpace(s)
}

func tailFile(path string) string {
	b, _ := os.ReadFile(path)
	return tail(string(b), 3000)
}
