// Package watch is the `backlogctl watch` command: listeners' queues sampled
// fast, printed as a redrawing view or as JSON Lines.
package watch

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nsflag"
)

// Defaults: print 10 times a second, sample 100 times a second (the cost
// budget: under 20% of a core with 1,000 listeners, docs/BENCHMARKS-watch.md).
const (
	DefaultInterval       = 100 * time.Millisecond
	DefaultSampleInterval = 10 * time.Millisecond
	minSample             = time.Millisecond
	// minDefaultSynSample: recounting the SYN queue walks the whole
	// established hash (~15ms on a 262144-bucket table), so by default it
	// happens at most twice a second.
	minDefaultSynSample = 500 * time.Millisecond
)

// Options are watch's inputs; tests fill them and call watchRun.
type Options struct {
	IO *iostreams.IOStreams
	// Roots are where the host is read from: the factory's.
	Roots          hostfs.Roots
	Interval       time.Duration
	SampleInterval time.Duration
	// SynSampleInterval is how often the SYN queue is recounted.
	SynSampleInterval time.Duration
	Duration          time.Duration
	Ports             []uint
	// Paths are --path: Unix listeners by path or pattern.
	Paths     []string
	Processes bool
	// Output is "table", "json", or "" for table on a terminal, json otherwise.
	Output     string
	Namespaces nsflag.Flags
	// Trace is --trace: attach eBPF programs for exact high water and
	// accept waits.
	Trace bool
	// TraceMode is --trace-mode: queue or full (the default);
	// TraceListeners raises the programs' listener table.
	TraceMode      string
	TraceListeners int
	// Collect is what the collector is asked for beside what the flags
	// say: tests set its OpenTrace.
	Collect collect.Options
}

// NewCmdWatch returns the watch command. runF replaces watchRun in tests.
func NewCmdWatch(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Watch listeners' accept and SYN queues live, with peaks between prints",
		Long: `Sample every listener's accept queue, SYN queue and drop counter with a
sock_diag dump every --sample-interval, and print every --interval:

  On a terminal, a view redrawn in place (like top): listeners sorted by
  their peak fill over the interval, fullest first (as many as fit the
  terminal; -o json or --port for all), with the current and peak accept
  queue against the backlog, current and peak SYN queue, drops per second;
  below, the key counters' per-second rates. Ctrl-C, SIGTERM, SIGHUP (or the
  end of --duration) exits with a summary of each listener's peaks over the run.

  Off a terminal, or with -o json: one JSON object per interval (JSON Lines).
  Each "listeners" element has inspect's field names plus peak_accept_queue,
  peak_fill, peak_syn_queue and drops_per_second; "counters" and "rates"
  hold the key counters and their per-second increase.

By default it samples at 100 Hz (--sample-interval 10ms) and prints 10 times
a second (--interval 100ms). Peaks: a burst that fills and drains a queue
between two prints still shows in peak_* as long as it lasts at least one
--sample-interval; a print happens every interval/sample-interval samples.

Sampling is cheap: one netlink dump of both families' listening sockets per
namespace per sample, reusing one socket and its buffers, with no sorting
or allocation per sample; counters are read once per print; owners (a /proc
scan) only with --processes, once per print. Counting the SYN queue is the
expensive part (the kernel walks its whole established hash to find request
sockets, ~15ms on a large host), so it is recounted every
--syn-sample-interval (default: the sample interval, but at most twice a
second), and not walked at all while the namespace has received no TCP
segment since a count found no request socket (its Tcp InSegs has not
moved: a request socket is made only by an arriving SYN), when 0 is exact;
peak_syn_queue is the highest of those counts.

With --netns or --all-netns each namespace is sampled through a sock_diag
socket opened inside it. --all-netns watches the namespaces that exist when
it starts; one that vanishes is dropped with a note on stderr. Its JSON lines
are {"time", "namespaces": [one object per namespace, with "netns"]}.

--trace attaches eBPF programs (as 'backlogctl trace' does): each listener
then shows the exact accept-queue high water of the interval (HIGH and
HIGH-FILL, over backlog+1; HIGH is marked * when it is a new high since watch
started) instead of the sampled peak, the interval's accept-wait p50 and
p99 (log2 bucket bounds), STALL (how long the queue has held connections
with no accept(), from 1s) and the owners with their state letter (a held
queue's owners are looked up, with or without --processes); the header says
"traced". In JSON, each listener gains "traced": {interval_high_water,
interval_high_water_fill (this interval's, exact), accept_queue_high_water,
high_water_rose, high_water_fill (since watch started), enqueued, accepted,
overflows_syn_time, overflows_ack_time, overflows_cookie_ack_time (the
interval's, by site), accept_wait_seconds: {count, p50, p90, p99,
max_since_start}, oldest_queued_seconds, stalled, stalled_seconds, owners}
and the report "traced": true with "trace_mode"; a Unix listener's also
connect_eagain (REFUSED in the table: connect() calls its full queue
refused with EAGAIN in the interval, which no kernel counter keeps) and
connect_blocked (blocking connects that waited for room). --trace-mode
queue traces the queue's side only (no syscall tracepoint: accepts
inferred from the queue, waits upper bounds, no refused connects); full,
the default, traces accept(), io_uring's accepts and connect() too. Where the kernel refuses
the programs, one warning line says so and watch shows the sampled peaks.`,
		Example: `  backlogctl watch
  backlogctl watch --port 443 --interval 5s
  backlogctl watch -o json --duration 1m > queues.jsonl
  backlogctl watch --trace --port 443 --interval 1s
  backlogctl watch -o json | jq -c '.listeners[] | select(.peak_fill > 0.8) | {port, peak_accept_queue, accept_queue_max}'`,
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
			return watchRun(ctx, opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Interval, "interval", DefaultInterval, "print every `DURATION`")
	cmd.Flags().DurationVar(&opts.SampleInterval, "sample-interval", 0, "sample every `DURATION` (default 10ms, or the --interval if shorter)")
	cmd.Flags().DurationVar(&opts.SynSampleInterval, "syn-sample-interval", 0, "recount the SYN queue every `DURATION` (default the sample interval, at least 500ms)")
	cmd.Flags().DurationVar(&opts.Duration, "duration", 0, "stop after `DURATION` (default: until Ctrl-C)")
	cmdutil.AddPortFlag(cmd, &opts.Ports, "watch only listeners on")
	cmdutil.AddPathFlag(cmd, &opts.Paths, "watch only listeners on")
	cmd.Flags().BoolVar(&opts.Trace, "trace", false, "attach eBPF programs: exact high water and accept-wait percentiles per interval")
	cmdutil.AddTraceListenersFlag(cmd, &opts.TraceListeners)
	cmdutil.AddTraceModeFlag(cmd, &opts.TraceMode, string(collect.TraceFull))
	cmd.Flags().BoolVar(&opts.Processes, "processes", false, "find each listener's owners (a /proc scan once per print)")
	cmdutil.AddAutoOutputFlag(cmd, opts.IO, &opts.Output, "table (default on a terminal; plain tab-separated lines in a pipe), wide (every column), json (JSON Lines; default otherwise), yaml (a YAML document per interval)", "table", "json")
	nsflag.Add(cmd, &opts.Namespaces)
	return cmd
}

// Validate checks the flags and fills in the defaults that depend on them.
func (o *Options) Validate() error {
	if err := cmdutil.CheckTraceFlags(o.TraceListeners, &o.TraceMode, string(collect.TraceFull)); err != nil {
		return err
	}
	if o.Output != "" {
		if err := cmdutil.CheckOutput(o.Output, "table", "json"); err != nil {
			return err
		}
	}
	if o.Interval <= 0 {
		return cmdutil.UsageErrorf("invalid --interval %s: want a positive duration such as 1s or 100ms", o.Interval)
	}
	if o.Interval < minSample {
		return cmdutil.UsageErrorf("invalid --interval %s: want at least %s (each interval holds at least one sample)", o.Interval, minSample)
	}
	if o.SampleInterval == 0 {
		o.SampleInterval = min(o.Interval, DefaultSampleInterval)
	}
	if o.SampleInterval < minSample || o.SampleInterval > o.Interval {
		return cmdutil.UsageErrorf("invalid --sample-interval %s: want %s..%s (the --interval)", o.SampleInterval, minSample, o.Interval)
	}
	if o.SynSampleInterval == 0 {
		o.SynSampleInterval = max(o.SampleInterval, minDefaultSynSample)
	}
	if o.SynSampleInterval < o.SampleInterval {
		return cmdutil.UsageErrorf("invalid --syn-sample-interval %s: want at least the --sample-interval (%s)", o.SynSampleInterval, o.SampleInterval)
	}
	if o.Duration < 0 {
		return cmdutil.UsageErrorf("invalid --duration %s: want 0 (until Ctrl-C) or more", o.Duration)
	}
	if _, err := cmdutil.Ports(o.Ports); err != nil {
		return err
	}
	if _, err := cmdutil.Paths(o.Paths); err != nil {
		return err
	}
	return o.Namespaces.Validate()
}

// samplesPerPrint is how many samples make one interval.
func (o *Options) samplesPerPrint() int {
	return max(1, int(o.Interval/o.SampleInterval))
}

// synEvery is every how many samples the SYN queue is recounted.
func (o *Options) synEvery() int {
	return max(1, int(o.SynSampleInterval/o.SampleInterval))
}

func (o *Options) json() bool {
	return o.Output == cmdutil.OutputJSON || (o.Output == "" && !o.IO.IsStdoutTTY())
}

func watchRun(ctx context.Context, o *Options) error {
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	// Each sample allocates a little and the live heap stays small: trade a
	// few MB for less collector work at 100 Hz.
	debug.SetGCPercent(400)
	ports, _ := cmdutil.Ports(o.Ports)
	co := o.Collect
	co.Roots, co.Namespaces, co.Ports, co.Paths, co.Pods = o.Roots, o.Namespaces.Collect(), ports, o.Paths, true
	if o.Trace {
		co.Trace, co.TraceListeners = collect.TraceModeOf(o.TraceMode), o.TraceListeners
	}
	wo := collect.WatchOptions{SynEvery: o.synEvery()}
	ws, err := collect.NewWatcher(co, wo)
	if o.Trace && collect.TraceUnavailable(err) {
		o.IO.Warn(fmt.Sprintf("eBPF tracing unavailable (%v): showing sampled peaks", err))
		co.Trace = collect.TraceOff
		ws, err = collect.NewWatcher(co, wo)
	}
	if err != nil {
		return nsflag.Error(err)
	}
	defer ws.Close()
	out := newPrinter(o)
	ticker := time.NewTicker(o.SampleInterval)
	defer ticker.Stop()
	every := o.samplesPerPrint()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return out.summary(ws)
		case <-ticker.C:
		}
		final := n%every == 0
		if err := ws.Sample(final); err != nil {
			return cmdutil.EnvError(err)
		}
		if !final {
			continue
		}
		rs, err := ws.Report(time.Now(), o.Processes)
		if err != nil {
			return cmdutil.EnvError(err)
		}
		if err := out.print(rs, ws.Notes()); err != nil {
			return fmt.Errorf("writing output: %w", err)
		}
	}
}
