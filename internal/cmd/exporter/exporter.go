// Package exporter is the `backlogctl exporter` command: a Prometheus
// exporter that takes a fresh snapshot on every scrape.
package exporter

import (
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nsflag"
	"github.com/backlogctl/backlogctl/metrics"
)

// DefaultTraceMode is --trace-mode's default: the queue's side only, whose
// cost under real servers meets the goal for leaving it on
// (docs/BENCHMARKS-trace.md).
const DefaultTraceMode = collect.TraceQueue

// DefaultListen is loopback: exposing the exporter is a deliberate choice.
const DefaultListen = "127.0.0.1:9597"

// Defaults for the HTTP server. Connections are not capped (an idle one
// costs a descriptor and a few KiB); what costs, a scrape, is: at most
// DefaultMaxRequests at once, as node_exporter's --web.max-requests.
const (
	DefaultIdleTimeout = 30 * time.Second
	DefaultMaxRequests = 40
	// readHeaderTimeout closes a connection that has not sent a whole
	// request header this long after connecting (or after its previous
	// response): a slowloris client holds a descriptor for this long.
	readHeaderTimeout = 5 * time.Second
	// readTimeout bounds reading a whole request, body included.
	readTimeout  = 10 * time.Second
	writeTimeout = 2 * time.Minute
	// maxTurnWait is how long a scrape over --web.max-requests waits for
	// a turn before it is answered 503.
	maxTurnWait = 5 * time.Second
	// maxHeaderBytes: a scrape's request header is a few hundred bytes.
	maxHeaderBytes = 16 << 10
)

// Options are exporter's inputs; tests fill them and call exporterRun.
type Options struct {
	IO *iostreams.IOStreams
	// Roots are where the host is read from: the factory's.
	Roots hostfs.Roots
	// Version, Commit and Date label backlogctl_build_info.
	Version, Commit, Date string
	// ListenAddresses are --web.listen-address (repeatable).
	ListenAddresses []string
	// WebConfigFile is --web.config.file: TLS and basic auth, in
	// exporter-toolkit's format ("" serves plain HTTP to anyone).
	WebConfigFile string
	MaxListeners  int
	Ports         []uint
	// Paths are --path: Unix listeners by path or pattern.
	Paths       []string
	NoProcesses bool
	Namespaces  nsflag.Flags
	// IdleTimeout closes kept-alive connections idle this long.
	IdleTimeout time.Duration
	// MaxRequests caps the scrapes served at once (0: no cap); more wait
	// for a turn, up to maxTurnWait, then are answered 503.
	MaxRequests int
	// Trace is --trace: attach the eBPF programs and export their evidence.
	Trace bool
	// TraceMode is --trace-mode: queue (the default) or full;
	// TraceListeners raises the programs' listener table.
	TraceMode      string
	TraceListeners int
	// Collect is what the collector is asked for beside what the flags
	// say: tests set its OpenTrace.
	Collect collect.Options

	// Ready, when set, is called with the first bound address once serving.
	Ready func(addr string)

	// beforeSnapshot, when set, is called as each snapshot starts (tests).
	beforeSnapshot func()
	// headerTimeout and turnWait replace readHeaderTimeout and
	// maxTurnWait when set (tests).
	headerTimeout, turnWait time.Duration
	// waiting counts scrapes waiting for a turn (tests read it).
	waiting atomic.Int64
	// flight is set by Handler; tests read it.
	flight *snapshotFlight
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
	opts := &Options{IO: f.IOStreams, Version: f.Version, Commit: f.Commit, Date: f.Date}
	var deprecatedMaxConnections int
	var deprecatedListen string
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
  backlogctl_build_info, process_*, go_*                   the exporter itself

Cardinality guard: with more than --max-listeners listeners in all, listener
metrics are summed per namespace and port (address="*", process="") and
backlogctl_listeners_aggregated is 1.

Owners are found by walking every /proc/PID/fd, which is slow on a busy
host, so the walk is redone only when a listener is new, an owner has
exited, or a minute has passed; in between only the owners' descriptor
counts and limits are re-read. A listener whose owner is still being
looked up is left out of the listener series (not shown with process="")
until that walk is done, one scrape or so.

Serving: scrapes that arrive while a snapshot is being taken share it (at
most one snapshot is taken at a time), and at most --web.max-requests
scrapes are answered at once; more wait for a turn, up to 5s (or half the
timeout Prometheus sends), then get 503. Connections are not
capped: an idle one costs a descriptor, and is closed if it sends no
request header within 5s, or after --idle-timeout between requests.
/healthz and the landing page at / never wait for a scrape. The exposition
is OpenMetrics when the scraper asks for it (Accept header), else the text
format.

--web.config.file enables TLS and basic auth, in the format of Prometheus's
exporter-toolkit, as node_exporter reads it (tls_server_config,
basic_auth_users with bcrypt hashes, http_server_config); it applies to
every path, /healthz included. The file is checked at start, and re-read
on each connection, so certificates can be rotated in place.

--trace attaches eBPF programs (as 'backlogctl trace' does) for the
exporter's lifetime and adds, under the same cardinality guard and labels:

  backlogctl_listener_accept_wait_seconds          histogram: time from
      entering the accept queue to accept() returning; classic buckets
      (powers of two in ns, ~1us to ~69s), and native buckets (schema 0)
      for a scraper that negotiates native histograms
  backlogctl_listener_traced_overflows_total{site}  counter: ack_time and
      cookie_ack_time (exact) and syn_time (derived from the counters)
  backlogctl_listener_traced_drops_total{reason}    counter, by drop reason
  backlogctl_listener_accept_queue_high_water_fill  gauge: the longest queue
      since the previous scrape (exact) over backlog+1 (1: it was full)
  backlogctl_process_accept_errors_total{netns,pid,process,errno}  counter
      (--trace-mode full only)
  backlogctl_listener_traced_untraced               gauge: 1 when the
      listener found the eBPF listener table full (raise --trace-listeners)
  backlogctl_trace_untraced_events_total            counter: their events
  backlogctl_trace_mode{mode}                       1: queue or full
  backlogctl_trace_up                              1 attached, 0 refused

--trace-mode queue (the exporter's default) traces the queue's side only:
no syscall tracepoint, so accepts are inferred from the queue, waits are
upper bounds and accept() errors are not seen; its cost under real servers
is in docs/BENCHMARKS-trace.md. --trace-mode full adds accept() and
io_uring's accepts: exact waits and accept errors by process.
Counting starts when the exporter starts. Where the kernel refuses the
programs, one warning line says so and the sampled metrics are served, with
backlogctl_trace_up 0.

Only /, /metrics and /healthz are served. The listen address defaults to
loopback; bind elsewhere only behind a firewall or network policy, or with
--web.config.file.`,
		Example: `  backlogctl exporter
  backlogctl exporter --web.listen-address 0.0.0.0:9597 --all-netns
  backlogctl exporter --web.listen-address :9597 --web.config.file /etc/backlogctl/web.yml
  curl -s 127.0.0.1:9597/metrics | grep backlogctl_listener_accept_queue`,
		Args: cmdutil.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Roots = f.Roots
			if c.Flags().Changed("listen") {
				if c.Flags().Changed("web.listen-address") {
					return cmdutil.UsageErrorf("--listen is the old name of --web.listen-address: give one of them")
				}
				opts.ListenAddresses = []string{deprecatedListen}
			}
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
	cmd.Flags().StringArrayVar(&opts.ListenAddresses, "web.listen-address", []string{DefaultListen}, "`ADDRESS` to serve /metrics, /healthz and / on (repeat for several)")
	cmd.Flags().StringVar(&opts.WebConfigFile, "web.config.file", "", "`FILE` configuring TLS and basic auth (exporter-toolkit's web configuration format)")
	cmd.Flags().IntVar(&opts.MaxRequests, "web.max-requests", DefaultMaxRequests, "answer at most `N` scrapes at once; more wait up to 5s, then get 503 (0: no limit)")
	cmd.Flags().IntVar(&opts.MaxListeners, "max-listeners", metrics.DefaultMaxListeners, "beyond `N` listeners, aggregate listener metrics per port")
	cmdutil.AddPortFlag(cmd, &opts.Ports, "export only listeners on")
	cmdutil.AddPathFlag(cmd, &opts.Paths, "export only listeners on")
	cmd.Flags().BoolVar(&opts.NoProcesses, "no-processes", false, "skip finding owners (no process label, no per-process descriptor metrics)")
	cmd.Flags().DurationVar(&opts.IdleTimeout, "idle-timeout", DefaultIdleTimeout, "close a kept-alive connection idle this long")
	cmd.Flags().BoolVar(&opts.Trace, "trace", false, "attach eBPF programs and also export accept waits, traced overflows and drops, high-water fill, and with --trace-mode full accept() errors")
	cmdutil.AddTraceListenersFlag(cmd, &opts.TraceListeners)
	cmdutil.AddTraceModeFlag(cmd, &opts.TraceMode, string(DefaultTraceMode))
	// Old names, kept so existing units and manifests keep starting.
	cmd.Flags().StringVar(&deprecatedListen, "listen", DefaultListen, "`ADDRESS` to serve on")
	_ = cmd.Flags().MarkDeprecated("listen", "use --web.listen-address")
	cmd.Flags().IntVar(&deprecatedMaxConnections, "max-connections", 0, "no effect")
	_ = cmd.Flags().MarkDeprecated("max-connections", "connections are no longer capped; --web.max-requests caps concurrent scrapes")
	nsflag.Add(cmd, &opts.Namespaces)
	return cmd
}

// Validate checks the flags before anything is bound or read.
func (o *Options) Validate() error {
	if err := cmdutil.CheckTraceFlags(o.TraceListeners, &o.TraceMode, string(DefaultTraceMode)); err != nil {
		return err
	}
	if len(o.ListenAddresses) == 0 {
		return cmdutil.UsageErrorf("no --web.listen-address: give at least one HOST:PORT (e.g. %s)", DefaultListen)
	}
	for _, addr := range o.ListenAddresses {
		if err := validateListen(addr); err != nil {
			return err
		}
	}
	if o.MaxListeners < 1 {
		return cmdutil.UsageErrorf("invalid --max-listeners %d: want at least 1", o.MaxListeners)
	}
	if o.IdleTimeout <= 0 {
		return cmdutil.UsageErrorf("invalid --idle-timeout %s: want a positive duration", o.IdleTimeout)
	}
	if o.MaxRequests < 0 {
		return cmdutil.UsageErrorf("invalid --web.max-requests %d: want 0 (no limit) or more", o.MaxRequests)
	}
	if err := validateWebConfig(o.WebConfigFile); err != nil {
		return err
	}
	if _, err := cmdutil.Ports(o.Ports); err != nil {
		return err
	}
	if _, err := cmdutil.Paths(o.Paths); err != nil {
		return err
	}
	return o.Namespaces.Validate()
}

func validateListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return cmdutil.UsageErrorf("invalid --web.listen-address %q: want HOST:PORT (e.g. %s)", addr, DefaultListen)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return cmdutil.UsageErrorf("invalid --web.listen-address %q: port must be 0..65535", addr)
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		return cmdutil.UsageErrorf("invalid --web.listen-address %q: host must be an IP address, localhost or empty (every address)", addr)
	}
	return nil
}
