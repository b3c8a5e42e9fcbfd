package exporter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nstest"
)

func newOpts() *Options {
	ios, _, _, _ := iostreams.Test()
	return &Options{IO: ios, Roots: hostfs.Host(), ListenAddresses: []string{"127.0.0.1:0"}, MaxListeners: 1000,
		IdleTimeout: DefaultIdleTimeout, MaxRequests: DefaultMaxRequests, Version: "1.2.3", Commit: "abc123", Date: "2026-01-02"}
}

func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value finds the sample of family name whose labels include all of want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no %s in the exposition", name)
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		if m.Counter != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no %s with labels %v", name, want)
	return 0
}

// The exporter's numbers for a full, overflowing listener agree with
// inspect's for the same moment (the queue is pinned full: nothing accepts).
func TestExporterMatchesInspect(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	nstest.SetSysctl(t, "net.core.somaxconn", 8)
	_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 1000, nstest.ListenOpts{})
	for i := 0; i < 30; i++ {
		nstest.Connect(t, ep)
	}
	nstest.Eventually(t, 5*time.Second, "the accept queue to fill", func() bool {
		ls, err := inspect.Listeners(nil, []uint16{ep.Port()})
		return err == nil && len(ls) == 1 && ls[0].AcceptQueue == 9
	})
	o := newOpts()
	h, err := o.Handler()
	if err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, h)
	m, err := collect.Snapshot(collect.Options{Owners: collect.OwnersOn, Ports: []uint16{ep.Port()}})
	if err != nil {
		t.Fatal(err)
	}
	snap := m.Namespaces[0].Snapshot
	l := snap.Listeners[0]
	labels := map[string]string{"address": "127.0.0.1", "port": fmt.Sprint(ep.Port())}
	checks := []struct {
		metric string
		want   float64
	}{
		{"backlogctl_listener_accept_queue", float64(l.AcceptQueue)},
		{"backlogctl_listener_backlog", float64(l.AcceptQueueMax)},
		{"backlogctl_listener_syn_queue", float64(l.SynQueue)},
	}
	for _, c := range checks {
		if got := value(t, fams, c.metric, labels); got != c.want {
			t.Errorf("%s = %v, inspect says %v", c.metric, got, c.want)
		}
	}
	if got := value(t, fams, "backlogctl_listener_drops_total", labels); got <= 0 || got > float64(l.DropCount()) {
		t.Errorf("drops_total = %v, inspect (taken after) says %d", got, l.DropCount())
	}
	if got := value(t, fams, "backlogctl_sysctl", map[string]string{"name": "net.core.somaxconn"}); got != 8 {
		t.Errorf("sysctl somaxconn = %v, want 8", got)
	}
	if got := value(t, fams, "backlogctl_tcp_listen_overflows_total", nil); got <= 0 || got > float64(snap.Counters["TcpExtListenOverflows"]) {
		t.Errorf("listen_overflows_total = %v, inspect (taken after) says %d", got, snap.Counters["TcpExtListenOverflows"])
	}
	if len(l.Processes) != 1 {
		t.Fatalf("inspect found owners %+v, want this test", l.Processes)
	}
	proc := l.Processes[0]
	if got := value(t, fams, "backlogctl_process_max_fds", map[string]string{"pid": fmt.Sprint(proc.PID)}); got != float64(proc.NofileSoft) {
		t.Errorf("process_max_fds = %v, want %d", got, proc.NofileSoft)
	}
	labels["process"] = proc.Comm
	value(t, fams, "backlogctl_listener_accept_queue", labels) // labelled with the owner
}

func TestExporterCardinalityGuard(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	for i := 0; i < 3; i++ {
		nstest.Listen(t, netip.MustParseAddrPort(fmt.Sprintf("127.0.0.%d:7000", i+1)), 16, nstest.ListenOpts{})
	}
	o := newOpts()
	o.MaxListeners = 2
	h, err := o.Handler()
	if err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, h)
	if got := value(t, fams, "backlogctl_listeners_aggregated", nil); got != 1 {
		t.Errorf("listeners_aggregated = %v, want 1 with 3 listeners over a limit of 2", got)
	}
	if n := len(fams["backlogctl_listener_backlog"].Metric); n != 1 {
		t.Errorf("%d backlog series, want 1 for port 7000", n)
	}
	if got := value(t, fams, "backlogctl_listener_backlog", map[string]string{"address": "*", "port": "7000"}); got != 48 {
		t.Errorf("aggregated backlog = %v, want 3*16", got)
	}
}

// Only /, /metrics and /healthz are served, on the address asked for.
func TestExporterServes(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	addr, stop := startExporter(newOpts())
	base := "http://" + addr
	for path, want := range map[string]int{"/healthz": 200, "/metrics": 200, "/": 200, "/index.html": 404, "/debug/pprof/": 404} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
	if err := stop(); err != nil {
		t.Errorf("exporter after cancel: %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Options)
		want int
	}{
		{"defaults", func(*Options) {}, 0},
		{"no port", func(o *Options) { o.ListenAddresses = []string{"127.0.0.1"} }, cmdutil.ExitUsage},
		{"port too big", func(o *Options) { o.ListenAddresses = []string{"127.0.0.1:70000"} }, cmdutil.ExitUsage},
		{"hostname", func(o *Options) { o.ListenAddresses = []string{"example.com:9597"} }, cmdutil.ExitUsage},
		{"second address bad", func(o *Options) { o.ListenAddresses = []string{"127.0.0.1:0", "::1"} }, cmdutil.ExitUsage},
		{"no address", func(o *Options) { o.ListenAddresses = nil }, cmdutil.ExitUsage},
		{"every address", func(o *Options) { o.ListenAddresses = []string{":9597"} }, 0},
		{"negative max requests", func(o *Options) { o.MaxRequests = -1 }, cmdutil.ExitUsage},
		{"no max requests", func(o *Options) { o.MaxRequests = 0 }, 0},
		{"missing web config", func(o *Options) { o.WebConfigFile = "/nonexistent/web.yml" }, cmdutil.ExitUsage},
		{"zero max", func(o *Options) { o.MaxListeners = 0 }, cmdutil.ExitUsage},
		{"zero idle timeout", func(o *Options) { o.IdleTimeout = 0 }, cmdutil.ExitUsage},
		{"both netns flags", func(o *Options) { o.Namespaces.Netns, o.Namespaces.All = "x", true }, cmdutil.ExitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOpts()
			tt.mod(o)
			if got := cmdutil.ExitCode(o.Validate()); got != tt.want {
				t.Errorf("exit code %d, want %d (%v)", got, tt.want, o.Validate())
			}
		})
	}
}

func TestBusyAddressIsEnvError(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 4, nstest.ListenOpts{})
	o := newOpts()
	o.ListenAddresses = []string{ep.String()}
	err := exporterRun(context.Background(), o)
	var ee *cmdutil.ExitError
	if !errors.As(err, &ee) || ee.Code != cmdutil.ExitEnv {
		t.Errorf("exporter on a busy address: %v, want exit 3", err)
	}
}

// startExporter runs the exporter until stop is called; stop returns its error.
func startExporter(o *Options) (addr string, stop func() error) {
	ready := make(chan string, 1)
	o.Ready = func(a string) { ready <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- exporterRun(ctx, o) }()
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		return "", func() error { return err }
	}
	return addr, func() error { cancel(); return <-done }
}
