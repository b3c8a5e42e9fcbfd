package exporter

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/trace"
	"github.com/backlogctl/backlogctl/trace/tracetest"
)

// exporter --trace scraped by two real Prometheus servers, one ingesting
// the classic buckets and one (native histograms enabled) the native ones:
// N connections accepted after waiting at least 50ms give an accept-wait
// histogram of exactly N whose p99, by histogram_quantile over the scraped
// data, is no less than the bucket bound below 50ms.
func TestPrometheusQuantileOfTracedAcceptWait(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	promBin := lookTool(t, "prometheus")
	tracetest.Require(t)
	fd, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 64, nstest.ListenOpts{})
	// A listener that never accepts, on port 1: its series sorts first in
	// each metric family, as whichever listener of the namespace sorts
	// first did by chance before (the Prometheus servers' own, the
	// exporter's). Prometheus 2.42 decides from a family's first metric
	// whether to take the whole family as native histograms, and takes a
	// histogram with no observations, no zero bucket and only an empty
	// span as a classic one: the native half then had no native series.
	nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:1"), 64, nstest.ListenOpts{})
	o := newOpts()
	o.Trace = true
	target, stop := startExporter(o)
	t.Cleanup(func() { stop() })
	classic, classicLog := startPrometheus(t, promBin, target)
	native, nativeLog := startPrometheus(t, promBin, target, "--enable-feature=native-histograms")

	const n = 20
	for range n {
		nstest.Connect(t, ep)
	}
	time.Sleep(50 * time.Millisecond)
	for range n {
		c, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(c) })
	}
	sel := fmt.Sprintf(`{port="%d",address="127.0.0.1"}`, ep.Port())
	checks := []struct {
		web, log, query string
		min             float64
		exact           bool
	}{
		{classic, classicLog, `histogram_quantile(0.99, backlogctl_listener_accept_wait_seconds_bucket` + sel + `)`, 0.0167, false},
		{classic, classicLog, `backlogctl_listener_accept_wait_seconds_count` + sel, n, true},
		{native, nativeLog, `histogram_quantile(0.99, backlogctl_listener_accept_wait_seconds` + sel + `)`, 0.03125, false},
		{native, nativeLog, `histogram_count(backlogctl_listener_accept_wait_seconds` + sel + `)`, n, true},
		{classic, classicLog, `backlogctl_trace_up`, 1, true},
	}
	for _, c := range checks {
		var last string
		ok := false
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && !ok; {
			time.Sleep(500 * time.Millisecond)
			v, err := promQuery(c.web, c.query)
			if err != nil {
				last = err.Error()
				continue
			}
			last = "value " + v
			f, _ := strconv.ParseFloat(v, 64)
			// The count may be scraped before every accept was: wait for n.
			ok = c.exact && f == c.min || !c.exact && f >= c.min && f < 1
		}
		t.Logf("%s = %s", c.query, last)
		if !ok {
			t.Errorf("%s: last %s, want %v", c.query, last, map[bool]string{true: "exactly", false: "at least"}[c.exact]+" "+fmt.Sprint(c.min))
		}
	}
	if t.Failed() {
		for _, web := range []string{classic, native} {
			t.Logf("targets of %s: %s", web, tail(httpBody("http://"+web+"/api/v1/targets"), 1500))
			// What each server stored in the last 20s, in each form: a
			// histogram taken as classic by the native server shows here.
			for _, name := range []string{"backlogctl_listener_accept_wait_seconds", "backlogctl_listener_accept_wait_seconds_count"} {
				q := url.QueryEscape(name + sel + "[20s]")
				t.Logf("%s[20s] on %s: %s", name, web, tail(httpBody("http://"+web+"/api/v1/query?query="+q), 3000))
			}
		}
		t.Logf("classic log: %s", tailFile(classicLog))
		t.Logf("native log: %s", tailFile(nativeLog))
	}
}

// httpBody is what GET url returns, or the error.
func httpBody(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// Where the kernel refuses the programs: one warning line, the sampled
// metrics as before, and backlogctl_trace_up 0.
func TestTraceRefusedServesSampled(t *testing.T) {
	ios, _, _, stderr := iostreams.Test()
	o := newOpts()
	o.IO, o.Trace, o.NoProcesses = ios, true, true
	o.Collect.OpenTrace = func(trace.Options) (trace.Source, error) { return nil, trace.ErrNoPermission }
	h, err := o.Handler()
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	fams := scrape(t, h)
	if up := fams["backlogctl_trace_up"]; up == nil || up.Metric[0].GetGauge().GetValue() != 0 {
		t.Errorf("backlogctl_trace_up %v, want 0", up)
	}
	if fams["backlogctl_listeners_aggregated"] == nil {
		t.Error("the sampled metrics are missing")
	}
	if n := strings.Count(stderr.String(), "\n"); n != 1 || !strings.Contains(stderr.String(), "eBPF tracing unavailable") {
		t.Errorf("stderr %q, want one warning line", stderr)
	}
}
