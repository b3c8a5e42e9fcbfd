// Package exporter is the `backlogctl exporter` command: a Prometheus
// exporter that takes a fresh snapshot on every scrape.
package exporter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nsflag"
	"github.com/backlogctl/backlogctl/metrics"
	"github.com/backlogctl/backlogctl/model"
)

// DefaultListen is loopback: exposing the exporter is a deliberate choice.
const DefaultListen = "127.0.0.1:9597"

// Defaults for the HTTP server: a kept-alive connection idle this long is
// closed, and at most this many connections are served at once (Prometheus
// holds one per server; more wait in the accept queue).
const (
	DefaultIdleTimeout    = 30 * time.Second
	DefaultMaxConnections = 16
	readHeaderTimeout     = 5 * time.Second
	writeTimeout          = 2 * time.Minute
)

// Options are exporter's inputs; tests fill them and call exporterRun.
type Options struct {
	IO *iostreams.IOStreams
	// Roots are where the host is read from: the factory's.
	Roots        hostfs.Roots
	Listen       string
	MaxListeners int
	Ports        []uint
	// Paths are --path: Unix listeners by path or pattern.
	Paths       []string
	NoProcesses bool
	Namespaces  nsflag.Flags
	// IdleTimeout closes kept-alive connections idle this long.
	IdleTimeout time.Duration
	// MaxConnections caps the connections served at once.
	MaxConnections int
	// Trace is --trace: attach the eBPF programs and export their evidence.
	Trace bool
	// Collect is what the collector is asked for beside what the flags
	// say: tests set its OpenTrace.
	Collect collect.Options

	// Ready, when set, is called with the bound address once serving.
	Ready func(addr string)

	// beforeSnapshot, when set, is called as each snapshot starts (tests).
	beforeSnapshot func()
	// flight and limit are set by Handler and exporterRun; tests read them.
	flight *snapshotFlight
	limit  *limitListener
	// collector takes the snapshots, with --trace's programs attached;
	// closed by Close.
	collector *collect.Collector
}

// Close detaches what Handler attached (the eBPF programs of --trace).
func (o *Options) Close() error {
	if o.collector == nil {
		return nil
	}
	err := o.collector.Close()
	o.collector = nil
	return err
}

// NewCmdExporter returns the exporter command. runF replaces exporterRun in tests.
func NewCmdExporter(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "exporter",
		Short: "Serve listener queues, tunables, counters and descriptor usage as Prometheus metrics",
		Long: `Serve /metrics for Prometheus. Every scrape takes a fresh snapshot (one
sock_diag dump per namespace, the tunables, the counters, and a /proc/*/fd
scan for the owners) and exposes:

  backlogctl_listener_accept_queue, _backlog, _syn_queue   gauges
  backlogctl_listener_drops_total                          counter
      labelled netns, address, port, process (owners' command names);
      SO_REUSEPORT members with identical labels are summed
      sockets all replaced between scrapes (a restart) show as a reset:
      if their count is not below the last one a scraper was sent, that
      scraper is sent 0 once, then the new sockets' count
  backlogctl_listener_reuseport_max_fill                   gauge
      the fullest member's fill, for series that sum a group
  backlogctl_tcp_listen_overflows_total, _listen_drops_total,
  backlogctl_tcp_syn_queue_full_drops_total, ... (netstat counters, per netns)
  backlogctl_sysctl{netns,name}                            tunables
  backlogctl_files_allocated, _files_max, _files_nr_open   fs.file-nr etc.
  backlogctl_process_open_fds, _process_max_fds            per owner

Cardinality guard: with more than --max-listeners listeners in all, listener
metrics are summed per namespace and port (address="*", process="") and
backlogctl_listeners_aggregated is 1.

Owners are found by walking every /proc/PID/fd, which is slow on a busy
host, so the walk is redone only when a listener is new, an owner has
exited, or a minute has passed; in between only the owners' descriptor
counts and limits are re-read. A listener whose owner is still being
looked up is left out of the listener series (not shown with process="")
until that walk is done, one scrape or so.

Scrapes that arrive while a snapshot is being taken share it: a burst of
scrapes costs one snapshot. At most --max-connections connections are
served at once; more wait in the accept queue, and while they wait a
kept-alive connection is closed after its response. A kept-alive
connection idle for --idle-timeout is closed.

--trace attaches eBPF programs (as 'backlogctl trace' does) for the
exporter's lifetime and adds, under the same cardinality guard and labels:

  backlogctl_listener_accept_wait_seconds          histogram: time from
      entering the accept queue to accept() returning; classic buckets
      (powers of two in ns, ~1us to ~69s), and native buckets (schema 0)
      for a scraper that negotiates native histograms
  backlogctl_listener_traced_overflows_total{site}  counter: ack_time (exact)
      and syn_time (derived from the counters)
  backlogctl_listener_traced_drops_total{reason}    counter, by drop reason
  backlogctl_listener_accept_queue_high_water_fill  gauge: the longest queue
      since the previous scrape (exact) over backlog+1 (1: it was full)
  backlogctl_process_accept_errors_total{netns,pid,process,errno}  counter
  backlogctl_trace_up                              1 attached, 0 refused
Counting starts when the exporter starts. Where the kernel refuses the
programs, one warning line says so and the sampled metrics are served, with
backlogctl_trace_up 0.

Only /metrics and /healthz are served. The listen address defaults to
loopback; bind elsewhere only behind a firewall or network policy.`,
		Example: `  backlogctl exporter
  backlogctl exporter --listen 0.0.0.0:9597 --all-netns
  curl -s 127.0.0.1:9597/metrics | grep backlogctl_listener_accept_queue`,
		Args: cmdutil.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Roots = f.Roots
			if err := opts.Validate(); err != nil {
				return err
			}
			ctx, stop := cmdutil.SignalContext(c.Context())
			defer stop()
			if runF != nil {
				return runF(ctx, opts)
			}
			return exporterRun(ctx, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Listen, "listen", DefaultListen, "`ADDRESS` to serve /metrics and /healthz on")
	cmd.Flags().IntVar(&opts.MaxListeners, "max-listeners", metrics.DefaultMaxListeners, "beyond `N` listeners, aggregate listener metrics per port")
	cmdutil.AddPortFlag(cmd, &opts.Ports, "export only listeners on")
	cmdutil.AddPathFlag(cmd, &opts.Paths, "export only listeners on")
	cmd.Flags().BoolVar(&opts.NoProcesses, "no-processes", false, "skip finding owners (no process label, no per-process descriptor metrics)")
	cmd.Flags().DurationVar(&opts.IdleTimeout, "idle-timeout", DefaultIdleTimeout, "close a kept-alive connection idle this long")
	cmd.Flags().BoolVar(&opts.Trace, "trace", false, "attach eBPF programs and also export accept waits, traced overflows and drops, accept() errors and high-water fill")
	cmd.Flags().IntVar(&opts.MaxConnections, "max-connections", DefaultMaxConnections, "serve at most this many connections at once; more wait to be accepted")
	nsflag.Add(cmd, &opts.Namespaces)
	return cmd
}

// Validate checks the flags before anything is bound or read.
func (o *Options) Validate() error {
	host, port, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return cmdutil.UsageErrorf("invalid --listen %q: want HOST:PORT (e.g. %s)", o.Listen, DefaultListen)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return cmdutil.UsageErrorf("invalid --listen %q: port must be 0..65535", o.Listen)
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		return cmdutil.UsageErrorf("invalid --listen %q: host must be an IP address or localhost", o.Listen)
	}
	if o.MaxListeners < 1 {
		return cmdutil.UsageErrorf("invalid --max-listeners %d: want at least 1", o.MaxListeners)
	}
	if o.IdleTimeout <= 0 {
		return cmdutil.UsageErrorf("invalid --idle-timeout %s: want a positive duration", o.IdleTimeout)
	}
	if o.MaxConnections < 1 {
		return cmdutil.UsageErrorf("invalid --max-connections %d: want at least 1", o.MaxConnections)
	}
	if _, err := cmdutil.Ports(o.Ports); err != nil {
		return err
	}
	if _, err := cmdutil.Paths(o.Paths); err != nil {
		return err
	}
	return o.Namespaces.Validate()
}

// Handler returns the exporter's HTTP handler: /metrics and /healthz only.
func (o *Options) Handler() (http.Handler, error) {
	refused := false
	if o.collector == nil {
		ports, _ := cmdutil.Ports(o.Ports)
		co := o.Collect
		co.Roots, co.Namespaces, co.Ports, co.Paths, co.Owners = o.Roots, o.Namespaces.Collect(), ports, o.Paths, collect.OwnersCached
		if o.NoProcesses {
			co.Owners = collect.OwnersOff
		}
		if o.Trace {
			co.Trace = collect.TraceOn
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
		return o.collector.Untraced()
	}
	o.flight = &snapshotFlight{}
	// Scrapes share a snapshot taken while they arrive; each reads the
	// evidence itself (each read closes an interval of the high water). A
	// read that fails leaves that scrape untraced: backlogctl_trace_up 0.
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
	if !o.NoProcesses {
		_, _ = o.flight.do(take)
	}
	mux := http.NewServeMux()
	// A collector per scrape, so it knows who asks: a socket replaced
	// between one scraper's scrapes is shown to it as a counter reset.
	resets := &metrics.Resets{}
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		scraper, _, _ := net.SplitHostPort(r.RemoteAddr)
		reg, err := metrics.NewRegistry(&metrics.Collector{Source: source, MaxListeners: o.MaxListeners,
			Resets: resets, Scraper: scraper, Gone: r.Context().Done(), Traced: o.collector.Tracing(), TraceRefused: refused})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	return mux, nil
}

func exporterRun(ctx context.Context, o *Options) error {
	// Resolve --netns once up front so a bad name fails before binding.
	if _, _, err := o.Namespaces.Namespaces(o.Roots); err != nil && !o.Namespaces.All {
		return err
	}
	h, err := o.Handler()
	defer o.Close()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return cmdutil.EnvError(fmt.Errorf("listening on %s: %w", o.Listen, err))
	}
	o.limit = newLimitListener(ln.(*net.TCPListener), o.MaxConnections)
	srv := &http.Server{
		Handler:           o.limit.fair(h),
		ReadHeaderTimeout: min(readHeaderTimeout, o.IdleTimeout),
		IdleTimeout:       o.IdleTimeout,
		WriteTimeout:      writeTimeout,
	}
	fmt.Fprintf(o.IO.ErrOut, "backlogctl exporter: serving http://%s/metrics\n", ln.Addr())
	if o.Ready != nil {
		o.Ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(o.limit) }()
	select {
	case err := <-errc:
		return cmdutil.EnvError(fmt.Errorf("serving: %w", err))
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return cmdutil.EnvError(err)
	}
	return nil
}
