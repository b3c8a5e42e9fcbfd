// Package trace is the `backlogctl trace` command: flags, then the trace
// package's collector joined to sock_diag snapshots, rendered.
package trace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nsflag"
	"github.com/backlogctl/backlogctl/model"
)

// Defaults.
const (
	DefaultInterval = time.Second
	DefaultStall    = time.Second
	ownersMaxAge    = 30 * time.Second
)

// Options are trace's inputs; tests fill them and call traceRun.
type Options struct {
	IO *iostreams.IOStreams
	// Roots are where the host is read from: the factory's.
	Roots    hostfs.Roots
	Duration time.Duration
	Interval time.Duration
	Stall    time.Duration
	Ports    []uint
	Paths    []string
	Output   string
	Check    bool
	// Processes walks /proc for every listener's owners.
	Processes bool
	// TraceListeners raises the listener table's size to this many
	// listeners; TraceMode is --trace-mode: queue or full.
	TraceListeners int
	TraceMode      string
	// Namespaces are --netns and --all-netns.
	Namespaces nsflag.Flags

	// Probe is --check's probe (collect.ProbeTrace); tests replace it.
	Probe func() (*model.TraceProbe, error)
	// Collect is what the collector is asked for beside what the flags
	// say: tests set its OpenTrace.
	Collect collect.Options
	// Ready, when set, is called once the programs are attached.
	Ready func()
}

var formats = []string{"table", "json"}

// NewCmdTrace returns the trace command. runF replaces traceRun in tests.
func NewCmdTrace(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Probe: collect.ProbeTrace}
	cmd := &cobra.Command{
		Use:   "trace",
		Short: "Trace listeners' accept queues exactly with eBPF: overflows, drops, waits, accept errors, refused connects",
		Long: `Attach eBPF programs to kernel tracepoints and report, every --interval and
at the end, for every listener (netns, address and port or Unix socket
path, owner, effective backlog) what happened since trace started:

  accept_queue_high_water  the exact longest accept queue (full is backlog+1)
  interval_high_water      the exact longest accept queue since the previous
                           report (JSON only)
  syn_queue_high_water     the longest SYN queue seen at the listener's events
  enqueued, accepted       connections that entered the queue / accept() took
  overflows.ack_time       final ACKs of handshakes in the SYN queue dropped
                           because the accept queue was full (exact, kfree_skb
                           reason TCP_LISTEN_OVERFLOW)
  overflows.cookie_ack_time
                           ACKs carrying a SYN cookie dropped because the
                           accept queue was full (exact; the kernel gives
                           them the reason NO_SOCKET)
  overflows.syn_time       SYNs dropped because the queue was full (derived:
                           the kernel consumes them with no reason or
                           tracepoint, so this is the namespace's
                           TcpExtListenOverflows rise less the ACK-time
                           overflows, given to the listener whose queue
                           filled; exact when one did). The three sum to
                           that rise.
  drops                    drops at the listener by kernel drop reason;
                           TCP_DEFER_ACCEPT is a bare ACK a TCP_DEFER_ACCEPT
                           listener dropped while waiting for data, and
                           TCP_LISTEN_OVERFLOW includes the cookie ACKs
  accept_wait_seconds      how long accepted connections waited in the queue,
                           from entering it (not from the SYN) to accept()
                           returning: count, p50, p90, p99 (log2 bucket
                           bounds), exact max, buckets; unmatched: of count,
                           those timed from their place in the queue because
                           concurrent enqueues hid which connection it was
  accept_errors            accept()/accept4() errors by process and errno
                           (EMFILE, ENFILE, ENOBUFS, ENOMEM...; EAGAIN is not
                           an error)
  stalled                  the queue holds connections and no accept() took
                           one for --stall or longer; the owners' state
                           (e.g. "T (stopped)") is shown beside them
  connect_eagain           Unix listeners, full mode: connect() calls that
                           failed with EAGAIN because the queue was full
                           (nginx's "connect() to unix:... failed (11:
                           Resource temporarily unavailable)"), which no
                           kernel counter keeps; exact, by process in
                           connect_refusals (JSON)
  connect_blocked          Unix listeners, full mode: blocking connect()
                           calls that slept until the queue had room, with
                           their time (JSON; derived: a connect that slept
                           for another reason counts too)

A Unix stream or seqpacket listener has the same queue without a SYN queue:
its high water, enqueued, accepted, waits and stalls are counted as a TCP
listener's (sk_data_ready fires when connect() queues a connection). The
kernel finds the listener of a refused connect() by the address given: an
abstract name in the connecting socket's network namespace, a path by the
inode of the socket file it leads to, from the connecting process's root
and working directory (in any namespace); trace resolves it the same way
shortly after the refusal, and names the address's listener.

--trace-mode full (the default) traces both sides of the queue: enqueues,
drops, and accepts, at accept()/accept4()'s syscall tracepoints and at
io_uring's completions of IORING_OP_ACCEPT, and connect() at its own
syscall tracepoints, for Unix listeners' refusals (a connect() made through
io_uring is not seen). --trace-mode queue traces the queue's side only (no syscall tracepoint, so nothing for processes that make
no connections): high water, overflows, drops and enqueued as in full mode;
accepted exact (the connections enqueued less those still queued); waits
derived, each timed to the enqueue that found its connection taken, an upper
bound (accept_wait_seconds.bound says by how much at most); stalls from the
last enqueue that found a connection taken; no accept errors and no
accepting process, no connect() refusals (the JSON's "unavailable").
Measured under nginx, a Go net/http server and lighttpd with wrk
(docs/BENCHMARKS-trace.md, trivial 9-42 us requests, 2 cores): queue mode
adds 0.6-1.8 us of CPU per connection with a connection per request
(1.5-4.5%; its hooks alone fire five times, ~0.15 us) and 0.04-0.11 us per
kept-alive request (0.3-1.2%: two sk_data_ready firings of ~30 ns each,
which fires at every socket's data arrival), and nothing to processes that
make no connection. Full mode adds 1.1-2.0 us per connection (2.9-4.8%),
0.1-0.3 us per kept-alive request, and 8 ns to every system call of every
process (the syscall tracepoint; +8% for dd's one-byte reads and writes);
once a Unix listener is seen full, connect()'s entry tracepoint adds about
5 ns more to every system call.

A listener's owner is the process whose accept() last took a connection from
it, as the programs saw it: no /proc walk (in queue mode owners are always
found by the walk below). When a listener holds connections
and none was accepted while traced (a stopped server), or with --processes
for every listener, owners are found by walking every process's descriptors
(as inspect does); on a busy host that walk costs seconds of CPU, so it is
redone only for new listeners, exited owners or every 30s, in the background.

Exact figures are counted by the programs at the event; derived ones are
listed in the JSON's "derived" array.

On a terminal the table is a view redrawn in place, like top; piped, it is
plain tab-separated lines, one per listener per interval. -o json prints one
JSON object per interval (JSON Lines) whose field names are a contract (see
docs/REFERENCE.md).

Needs Linux with BTF (/sys/kernel/btf/vmlinux), tp_btf tracepoints
(kfree_skb's receiving socket is in 6.11 and later) and CAP_BPF with
CAP_PERFMON (or root). Only tracepoints are used, no kprobes or fentry.
accept() and connect() are seen at the syscalls:sys_exit_accept4,
sys_exit_accept, sys_enter_connect and sys_exit_connect tracepoints, whose
IDs trace reads from a tracefs it mounts, when the host has none, in a
private mount namespace (CAP_SYS_ADMIN); failing that, at the raw sys_exit
tracepoint, which costs a program run per system call (and sees connect()'s
refusals but not blocked connects). --check reports what this kernel allows.

The listener table holds twice the listeners there are at start and a
quarter more (about 1.4 KiB of kernel memory each); --trace-listeners raises
it. A listener that finds it full is marked "untraced" (with the events not
counted), never shown as silent zeros, and a note says so.
Without BTF or the capabilities trace exits 3; 'backlogctl watch' samples the
same queues without eBPF.

The programs and their maps are removed on exit, Ctrl-C, SIGTERM, SIGHUP or
error; a signal ends trace as --duration does, with a final report.`,
		Example: `  # live view of every listener, for a minute
  backlogctl trace --duration 1m

  # one service, as JSON Lines every 5 seconds
  backlogctl trace --port 443 --interval 5s -o json | jq -c '.listeners[] | {port, accept_queue_high_water, overflows, accept_errors}'

  # php-fpm's pool socket: refused connects (nginx's EAGAIN) by client
  backlogctl trace --path /run/php/php-fpm.sock -o json | jq -c '.listeners[] | {path, accept_queue_high_water, connect_eagain, connect_refusals}'

  # every container's listeners
  backlogctl trace --all-netns

  # can this kernel run trace?
  backlogctl trace --check`,
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
			return traceRun(ctx, opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Duration, "duration", 0, "stop after `DURATION` (default: until Ctrl-C)")
	cmd.Flags().DurationVar(&opts.Interval, "interval", DefaultInterval, "report every `DURATION`")
	cmd.Flags().DurationVar(&opts.Stall, "stall", DefaultStall, "a queue that holds connections with no accept() for `DURATION` is stalled")
	cmdutil.AddPortFlag(cmd, &opts.Ports, "report only listeners on")
	cmdutil.AddPathFlag(cmd, &opts.Paths, "report only listeners on")
	cmd.Flags().BoolVar(&opts.Processes, "processes", false, "find every listener's owners by walking /proc (default: the process that last accepted)")
	cmdutil.AddTraceListenersFlag(cmd, &opts.TraceListeners)
	cmdutil.AddTraceModeFlag(cmd, &opts.TraceMode, string(collect.TraceFull))
	cmd.Flags().BoolVar(&opts.Check, "check", false, "probe what this kernel allows trace to do, report it and exit")
	cmdutil.AddTableOutputFlag(cmd, opts.IO, &opts.Output, formats...)
	nsflag.Add(cmd, &opts.Namespaces)
	return cmd
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if err := cmdutil.CheckOutput(o.Output, formats...); err != nil {
		return err
	}
	if o.Interval <= 0 {
		return cmdutil.UsageErrorf("invalid --interval %s: want a positive duration such as 1s", o.Interval)
	}
	if o.Duration < 0 {
		return cmdutil.UsageErrorf("invalid --duration %s: want 0 (until Ctrl-C) or more", o.Duration)
	}
	if o.Stall <= 0 {
		return cmdutil.UsageErrorf("invalid --stall %s: want a positive duration such as 1s", o.Stall)
	}
	if _, err := cmdutil.Ports(o.Ports); err != nil {
		return err
	}
	if _, err := cmdutil.Paths(o.Paths); err != nil {
		return err
	}
	if err := cmdutil.CheckTraceFlags(o.TraceListeners, &o.TraceMode, string(collect.TraceFull)); err != nil {
		return err
	}
	return o.Namespaces.Validate()
}

// unavailable is the one-line error for a host trace cannot run on.
func unavailable(err error) error {
	return cmdutil.EnvError(fmt.Errorf("trace: %w; 'backlogctl watch' samples the same queues without eBPF", err))
}

func traceRun(ctx context.Context, o *Options) error {
	if o.Check {
		return checkRun(o)
	}
	limitMemory()
	ports, _ := cmdutil.Ports(o.Ports)
	// Without --processes a listener's owner is the process that last
	// accepted from it (the programs record it). With it, every process's
	// descriptors are walked (CPU-heavy on a busy host: seconds with tens of
	// thousands of descriptors), redone for new listeners, exited owners or
	// every ownersMaxAge, in the background. A listener that holds
	// connections but has taken none while traced (a stopped or stuck
	// server: the case a stall is about) has no accepting process to name,
	// so its owners are looked up the same way, only then.
	co := o.Collect
	co.Roots, co.Namespaces, co.Ports, co.Paths, co.Stall = o.Roots, o.Namespaces.Collect(), ports, o.Paths, o.Stall
	co.Trace, co.TraceListeners = collect.TraceModeOf(o.TraceMode), o.TraceListeners
	co.Owners, co.OwnersMaxAge = collect.OwnersUnaccepted, ownersMaxAge
	// Queue mode sees no accept(), so no accepting process names an owner.
	if o.Processes || co.Trace == collect.TraceQueue {
		co.Owners = collect.OwnersCached
	}
	c, err := collect.NewCollector(co)
	switch {
	case collect.TraceUnavailable(err):
		return unavailable(err)
	case err != nil:
		var nserr *collect.NamespaceError
		if errors.As(err, &nserr) {
			return nsflag.Error(err)
		}
		return cmdutil.EnvError(fmt.Errorf("trace: %w", err))
	}
	defer c.Close()
	if o.Ready != nil {
		o.Ready()
	}
	out := newPrinter(o)
	// --duration is how long the programs trace: it starts now that they
	// are loaded and attached, which can take seconds on a busy host.
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
		out.end = time.Now().Add(o.Duration)
		// The live view says how long is left itself; otherwise stderr does.
		if !out.view() {
			defer o.IO.StartCountdown("tracing "+o.watched()+" with eBPF for "+o.Duration.String(), o.Duration)()
		}
	}
	ticker := time.NewTicker(o.Interval)
	defer ticker.Stop()
	for {
		final := false
		select {
		case <-ctx.Done():
			final = true
		case <-ticker.C:
		}
		m, err := c.Snapshot()
		if err != nil {
			return cmdutil.EnvError(fmt.Errorf("trace: %w", err))
		}
		if err := out.print(model.NewTraceReport(m, o.Stall), final); err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
		if final {
			return nil
		}
	}
}

// watched says which listeners are traced, for the countdown.
func (o *Options) watched() string {
	return cmdutil.Watched(o.Ports, nil, o.Namespaces.Netns, o.Namespaces.All)
}

// limitMemory keeps trace's RSS well under 32 MiB, unless GOGC or
// GOMEMLIMIT say otherwise. Loading the programs decodes the kernel's BTF
// for CO-RE, a burst of short-lived allocations that, collected at the
// default pace, peaks at ~33 MiB. A soft limit alone can be overrun when
// the host is busy (the collector's CPU share is capped); GOGC 25 also makes
// the allocating goroutine help the collector. The peak is ~27 MiB
// (docs/BENCHMARKS-trace.md; e2e's TestTraceMemory checks it).
func limitMemory() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(25)
	debug.SetMemoryLimit(12 << 20)
}

func checkRun(o *Options) error {
	p, err := o.Probe()
	if rerr := renderProbe(o, p); rerr != nil {
		return rerr
	}
	if err != nil {
		return unavailable(err)
	}
	if !p.OK() {
		return unavailable(errors.New("this kernel refused some of trace's programs (see above)"))
	}
	return nil
}
