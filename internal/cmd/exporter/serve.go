package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v2"

	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/nsflag"
	"github.com/backlogctl/backlogctl/metrics"
	"github.com/backlogctl/backlogctl/model"
)

// Handler returns the exporter's HTTP handler: /metrics, /healthz and the
// landing page at /.
func (o *Options) Handler() (http.Handler, error) {
	refused := false
	if o.collector == nil {
		ports, _ := cmdutil.Ports(o.Ports)
		co := o.Collect
		// Owners are looked up in the background after the first walk, so
		// a scrape never waits for a /proc walk (hundreds of ms on a busy
		// host).
		co.Roots, co.Namespaces, co.Ports, co.Paths, co.Owners, co.Pods = o.Roots, o.Namespaces.Collect(), ports, o.Paths, collect.OwnersCached, true
		if o.NoProcesses {
			co.Owners = collect.OwnersOff
		}
		if o.Trace {
			co.Trace, co.TraceListeners = collect.TraceModeOf(o.TraceMode), o.TraceListeners
		}
		c, err := collect.NewCollector(co)
		if o.Trace && err != nil && collect.TraceUnavailable(err) {
			fmt.Fprintf(o.IO.ErrOut, "backlogctl exporter: warning: eBPF tracing unavailable (%v): serving the sampled metrics only, backlogctl_trace_up 0\n", err)
			refused = true
			co.Trace = collect.TraceOff
			c, err = collect.NewCollector(co)
		}
		if err != nil {
			return nil, nsflag.Error(err)
		}
		o.collector = c
	}
	take := func() (*model.MultiSnapshot, error) {
		if o.beforeSnapshot != nil {
			o.beforeSnapshot()
		}
		m, err := o.collector.Untraced()
		if err == nil {
			// Why the series have no pod names: said once, when first seen.
			for _, n := range m.Notes {
				if strings.HasPrefix(n, collect.PodsUnnamed) {
					fmt.Fprintf(o.IO.ErrOut, "backlogctl exporter: warning: %s\n", n)
				}
			}
		}
		return m, err
	}
	// Overlapping scrapes share one snapshot; the snapshot itself is never
	// changed after take returns. Each scrape reads the traced evidence
	// itself (each read closes an interval of the high water); a read that
	// fails leaves that scrape untraced: backlogctl_trace_up 0.
	o.flight = &snapshotFlight{}
	source := func() (*model.MultiSnapshot, error) {
		m, err := o.flight.do(take)
		if err != nil || !o.collector.Tracing() {
			return m, err
		}
		if traced, err := o.collector.Trace(m); err == nil {
			return traced, nil
		}
		return m, nil
	}
	if _, err := metrics.NewRegistry(&metrics.Collector{Source: source}); err != nil {
		return nil, err
	}
	// The exporter's own metrics, the same for every scrape.
	self, err := o.selfRegistry()
	if err != nil {
		return nil, err
	}
	if !o.NoProcesses {
		// Warm the owner cache now, so the first scrape does not walk /proc
		// either; a failure here is reported by that scrape instead.
		o.warm(take)
	}
	var inFlight chan struct{}
	if o.MaxRequests > 0 {
		inFlight = make(chan struct{}, o.MaxRequests)
	}
	// A collector per scrape, so it knows who asks: a socket replaced
	// between one scraper's scrapes is shown to it as a counter reset.
	resets := &metrics.Resets{}
	scrape := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if inFlight != nil {
			if !o.takeTurn(r, inFlight) {
				w.Header().Set("Retry-After", "1")
				http.Error(w, fmt.Sprintf("%d scrapes are being answered (--web.max-requests): try again", o.MaxRequests), http.StatusServiceUnavailable)
				return
			}
			defer func() { <-inFlight }()
		}
		scraper, _, _ := net.SplitHostPort(r.RemoteAddr)
		reg, err := metrics.NewRegistry(&metrics.Collector{Source: source, MaxListeners: o.MaxListeners,
			Resets: resets, Scraper: scraper, Gone: r.Context().Done(), Traced: o.collector.Tracing(), TraceRefused: refused})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		promhttp.HandlerFor(prometheus.Gatherers{self, reg}, promhttp.HandlerOpts{EnableOpenMetrics: true}).ServeHTTP(w, r)
	})
	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        "backlogctl exporter",
		Description: "TCP listeners' SYN and accept queues, tunables, counters and descriptor headroom",
		Version:     version.Info(),
		// Only /, /metrics and /healthz are served: no profiling links.
		Profiling: "false",
		Links: []web.LandingLinks{
			{Address: "metrics", Text: "Metrics", Description: "a fresh snapshot, in the text or OpenMetrics format"},
			{Address: "healthz", Text: "Health", Description: "ok while the exporter serves; never waits for a scrape"},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("building the landing page: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(self, scrape))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /{$}", landing)
	return mux, nil
}

// takeTurn waits for one of the --web.max-requests slots: a scrape over the
// limit waits (a blocked goroutine costs a few KiB; the exposition it would
// build costs much more), but no longer than maxTurnWait or the scraper's
// own timeout, and not after the scraper has hung up; then it is refused.
func (o *Options) takeTurn(r *http.Request, slots chan struct{}) bool {
	select {
	case slots <- struct{}{}:
		return true
	default:
	}
	o.waiting.Add(1)
	defer o.waiting.Add(-1)
	wait := maxTurnWait
	if o.turnWait > 0 {
		wait = o.turnWait
	}
	// Prometheus says how long it will wait for the whole scrape.
	if s, err := strconv.ParseFloat(r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"), 64); err == nil && s > 0 {
		wait = min(wait, time.Duration(s*float64(time.Second))/2)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case slots <- struct{}{}:
		return true
	case <-timer.C:
	case <-r.Context().Done():
	}
	return false
}

// buildInfoMu guards prometheus/common/version's package variables, which
// backlogctl_build_info is read from.
var buildInfoMu sync.Mutex

// selfRegistry holds the metrics about the exporter process itself:
// backlogctl_build_info, process_* and go_*.
func (o *Options) selfRegistry() (*prometheus.Registry, error) {
	buildInfoMu.Lock()
	defer buildInfoMu.Unlock()
	version.Version = o.Version
	if o.Commit != "none" {
		version.Revision = o.Commit
	}
	version.BuildDate = o.Date
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		versioncollector.NewCollector("backlogctl"),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering the exporter's own metrics: %w", err)
		}
	}
	return reg, nil
}

// webConfigSummary says what --web.config.file turns on, for the start line.
type webConfigSummary struct {
	TLS, BasicAuth bool
}

// validateWebConfig checks --web.config.file as the toolkit will use it
// (YAML, bcrypt hashes, certificate and key), before anything is bound.
func validateWebConfig(path string) error {
	if path == "" {
		return nil
	}
	if err := web.Validate(path); err != nil {
		return cmdutil.UsageErrorf("invalid --web.config.file %s: %s", path, oneLine(err))
	}
	return nil
}

func readWebConfig(path string) (webConfigSummary, error) {
	if path == "" {
		return webConfigSummary{}, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return webConfigSummary{}, err
	}
	var c web.Config
	if err := yaml.Unmarshal(raw, &c); err != nil {
		return webConfigSummary{}, errors.New(oneLine(err))
	}
	return webConfigSummary{TLS: c.TLSConfig.IsEnabled(), BasicAuth: len(c.Users) > 0}, nil
}

// oneLine makes a web configuration error one short line: YAML lists
// every problem on its own line, quoting each unknown key whole (a symlink
// to /etc/shadow would be printed line by line), so only the first problem
// is kept, with any quoted key cut short.
func oneLine(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "crypto/bcrypt") {
		return "basic_auth_users must map each user to a bcrypt hash (" + msg + ")"
	}
	lines := strings.Split(msg, "\n")
	first := strings.TrimSpace(lines[0])
	var rest []string
	for _, l := range lines[1:] {
		if l = strings.TrimSpace(l); l != "" {
			rest = append(rest, l)
		}
	}
	if len(rest) > 0 {
		first += " " + shortenKey(rest[0])
		if len(rest) > 1 {
			first += fmt.Sprintf(" (and %d more)", len(rest)-1)
		}
	}
	return first
}

// shortenKey cuts the key in YAML's "field KEY not found in type T" to a
// few characters.
func shortenKey(problem string) string {
	const keep = 12
	before, after, ok := strings.Cut(problem, "field ")
	if !ok {
		return problem
	}
	key, tail, ok := strings.Cut(after, " not found")
	if !ok || len(key) <= keep {
		return problem
	}
	return before + "field " + key[:keep] + "..." + " not found" + tail
}

func exporterRun(ctx context.Context, o *Options) error {
	// Resolve --netns once up front so a bad name fails before binding.
	if _, _, err := o.Namespaces.Namespaces(o.Roots); err != nil && !o.Namespaces.All {
		return err
	}
	webConf, err := readWebConfig(o.WebConfigFile)
	if err != nil {
		return cmdutil.UsageErrorf("invalid --web.config.file %s: %v", o.WebConfigFile, err)
	}
	h, err := o.Handler()
	defer o.Close()
	if err != nil {
		return err
	}
	var listeners []net.Listener
	defer func() {
		for _, ln := range listeners {
			ln.Close()
		}
	}()
	for _, addr := range o.ListenAddresses {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return cmdutil.EnvError(fmt.Errorf("listening on %s: %w", addr, err))
		}
		listeners = append(listeners, ln)
	}
	headerTimeout := readHeaderTimeout
	if o.headerTimeout > 0 {
		headerTimeout = o.headerTimeout
	}
	// The toolkit logs each listener at info level; our own line says it.
	logger := slog.New(slog.NewTextHandler(o.IO.ErrOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	flags := &web.FlagConfig{WebListenAddresses: &o.ListenAddresses, WebSystemdSocket: new(bool), WebConfigFile: &o.WebConfigFile}
	scheme, notes := "http", ""
	if webConf.TLS {
		scheme, notes = "https", " (TLS"
	}
	if webConf.BasicAuth {
		if notes == "" {
			notes = " (basic auth)"
		} else {
			notes += ", basic auth)"
		}
	} else if notes != "" {
		notes += ")"
	}
	// One server per listener: web.Serve wraps the server's handler for
	// basic auth, so servers are not shared between listeners.
	servers := make([]*http.Server, len(listeners))
	errc := make(chan error, len(listeners))
	for i, ln := range listeners {
		servers[i] = &http.Server{
			Handler:           h,
			ReadHeaderTimeout: min(headerTimeout, o.IdleTimeout),
			ReadTimeout:       max(readTimeout, headerTimeout),
			IdleTimeout:       o.IdleTimeout,
			WriteTimeout:      writeTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		}
		fmt.Fprintf(o.IO.ErrOut, "backlogctl exporter: serving %s://%s/metrics%s\n", scheme, ln.Addr(), notes)
	}
	if o.Ready != nil {
		o.Ready(listeners[0].Addr().String())
	}
	for i, ln := range listeners {
		go func() { errc <- web.Serve(ln, servers[i], flags, logger) }()
	}
	select {
	case err := <-errc:
		shutdown(servers)
		return cmdutil.EnvError(fmt.Errorf("serving: %w", err))
	case <-ctx.Done():
	}
	return shutdown(servers)
}

// shutdown stops every server, letting scrapes being answered finish.
func shutdown(servers []*http.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, s := range servers {
		if err := s.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return cmdutil.EnvError(errors.Join(errs...))
	}
	return nil
}

// warmWait bounds how long the exporter waits at start for its owners and
// their pods to be looked up.
const warmWait = 5 * time.Second

// warm takes snapshots until no listener's owners are still being looked
// up (the /proc walk, the container runtime's pod names), for at most
// warmWait: the first scrape then has every owner's labels, instead of a
// series that changes its labels on the second.
func (o *Options) warm(take func() (*model.MultiSnapshot, error)) {
	deadline := time.Now().Add(warmWait)
	for {
		m, err := take()
		if err != nil || !pending(m) || time.Now().After(deadline) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pending reports whether a listener of m has owners still being looked up.
func pending(m *model.MultiSnapshot) bool {
	for _, ns := range m.Namespaces {
		for _, l := range ns.Listeners {
			if l.OwnersPending {
				return true
			}
		}
	}
	return false
}
