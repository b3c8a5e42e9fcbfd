// Package advise is the `backlogctl advise` command.
package advise

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nsflag"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/sysctl"
)

// Options are advise's inputs; tests fill them and call adviseRun directly.
type Options struct {
	IO *iostreams.IOStreams
	// Roots are where the host is read from: the factory's.
	Roots hostfs.Roots
	Ports []uint
	// Paths are --path: Unix listeners by path or pattern.
	Paths         []string
	Interval      time.Duration
	Rate          float64
	AcceptLatency time.Duration
	Profile       string
	Output        string
	// StateDir is tune's state directory: what backlogctl changed, and when.
	StateDir string

	// Trace is --trace: judge an eBPF-traced window of this length.
	Trace time.Duration
	// TraceListeners raises eBPF's listener table (--trace-listeners).
	TraceListeners int
	// TraceMode is --trace-mode: queue or full.
	TraceMode string

	// Which flags were given: --interval 0 is an error, not "no interval".
	IntervalSet, RateSet, LatencySet, TraceSet bool

	// Namespaces are --netns and --all-netns: judge other network
	// namespaces, each on its own.
	Namespaces nsflag.Flags

	// Collect asks the collector for the samples; replaced in tests (with
	// its Options' OpenTrace and SampleOptions' Sleep, for example).
	Collect func(collect.Options, collect.SampleOptions) ([]*model.Samples, []string, error)
}

// Traced-window defaults: how often the evidence and queues are re-read
// (the resolution of a high-water time), and the stall threshold.
const (
	traceReadInterval = 100 * time.Millisecond
	traceStall        = time.Second
)

// TraceUnavailable begins the warning --trace gives where the kernel does
// not allow tracing.
const TraceUnavailable = collect.TraceUnavailableWarning

var formats = []string{"table", "json"}

// NewCmdAdvise returns the advise command. runF replaces adviseRun in tests.
func NewCmdAdvise(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Collect: collect.Samples, StateDir: sysctl.DefaultStateDir}
	cmd := &cobra.Command{
		Use:   "advise",
		Short: "Judge the listeners, tunables, counters and limits, and say what to change",
		Long: `Take a snapshot (like inspect) and judge it with rules built on what the
kernel actually does. Each finding has a stable id, a severity (info,
warning, critical), a subject (a sysctl key, a listener address:port or a
pid:N), the current and recommended values, the reason, the fix and the
numbers that triggered it. Findings are printed most severe first.

What the rules know:
  - A listener whose backlog equals somaxconn was probably clamped by
    listen(): raise net.core.somaxconn, and restart the program, because the
    clamp happens only when it calls listen().
  - A listener whose backlog is below somaxconn is limited by the program's
    own setting (nginx backlog=, HAProxy backlog, Node server.listen backlog,
    Tomcat acceptCount, Redis tcp-backlog, Apache ListenBacklog, ...):
    somaxconn would change nothing.
  - A full accept queue whose owner sits at its RLIMIT_NOFILE is a
    descriptor problem: raise the limit (for a systemd service, the
    LimitNOFILE= drop-in).
  - tcp_max_syn_backlog matters only with syncookies off; syncookies=0 is
    always a finding, 2 is one too; tcp_abort_on_overflow=1 resets clients.
  - A hard RLIMIT_NOFILE above fs.nr_open cannot be set again; fs.file-nr
    near fs.file-max is critical.
  - A listener's drop count is not an overflow count: with --interval each
    rise is attributed from the namespace's counters over the same interval
    (ListenOverflows, TCPReqQFullDrop, TCPDeferAcceptDrop, ListenDrops) and
    only the fix for that cause is given; where they cannot be separated the
    finding says so.
  - An owner stopped (T) per /proc/PID/stat is the finding in every mode,
    "NAME[PID] is not accepting", not a small backlog; so is a queue that
    holds connections and does not drain over an interval while no
    handshake completes, or whose owner stays in uninterruptible sleep (D).
  - An owner that holds as many connections as its own configuration allows
    (HAProxy maxconn, memcached -c, gunicorn and uWSGI workers; nginx
    worker_connections and PostgreSQL max_connections, which refuse beyond
    it: read from the files and command line it was started with) stops
    accepting there: that cap is named as the cause.
  - An owner at or within 1% of its soft RLIMIT_NOFILE is a finding whatever
    its queue shows; fixes use backlogctl rlimit set on the process that
    holds the limit (for nginx the master and worker_rlimit_nofile).
  - After tune raised somaxconn (its record in --state-dir), a listener whose
    backlog is the old value and whose owner started before the change
    predates it: restart it. Fixes name where each server sets its backlog
    (nginx, Python socketserver, Go, Node.js, Java, HAProxy, Envoy,
    gunicorn, uWSGI, Redis, memcached, ...; PostgreSQL has none: it asks
    for 2 x MaxBackends, and more max_connections is poor advice).

Each listener gets one verdict: the findings about it are reconciled into
the one that explains most (a stopped owner, descriptors run out, its own
cap, not accepting, a slow acceptor, a listener older than a change, the
traced overflow, then sampled guesses and history), with their evidence
merged and their ids in "folded" (JSON). No finding recommends less than the
value it changes.

Counters are judged by change: --interval D takes two samples D apart and
reasons from the deltas (ListenOverflows, SYN-queue drops and cookies, each
listener's drops, netdev_max_backlog drops from /proc/net/softnet_stat).
Without --interval, counter totals since boot (since the namespace was
created, in a child network namespace) are info only, and a listener's drop
count since its socket was created is history, never a reason to raise a
value again — except that a clamp still in place (backlog equal to
somaxconn) stays a warning tune acts on. A full accept queue is a warning
either way: it is happening now.

--rate R --accept-latency D sizes the backlog by Little's law: R × D
connections wait on average; ×2 headroom for bursts, rounded up to a power
of two. Each listener's effective backlog and somaxconn are compared with it.

--trace D attaches eBPF programs (as 'backlogctl trace' does) for D and
judges what they saw, exactly, besides two samples D apart: accept() errors
per process and errno ("nginx[PID] got EMFILE 21 times in 2.0s"), the queue's
exact high water against backlog+1 with its time and the overflows at SYN
and at final-ACK time, stalls with the owner's state while they lasted and
the oldest queued connection's wait, and a p99 accept wait
over 100ms, where the acceptor, not the backlog, is to blame; a queue that
overflowed while its owner accepted nothing gets no bigger backlog. Sizing
then takes what --rate and --accept-latency leave out from the busiest
listener: its measured arrival rate and mean accept wait, and says which
were measured (no wait is measured from a listener that accepted nothing or
stalled: without --accept-latency there is then no sizing).
Where the kernel does not allow tracing, one warning says so and advise
judges two samples D apart, as --interval D does.

--profile NAME reports every key below the profile's targets. A profile
never lowers a size the host already has higher; its mode keys
(tcp_syncookies, tcp_abort_on_overflow) are set exactly. Profiles:
` + profileHelp() + `
advise changes nothing. The sysctl changes its warnings recommend are listed
at the end (and as "plan" in JSON): backlogctl tune applies them.

--netns NAME|PATH judges another network namespace (its listeners, tunables
and counters, read inside it; owners and host facts from the host's /proc);
the JSON report then has "netns". --all-netns judges every namespace on its
own: one report each, under its label ({"namespaces": [...], "notes"} in JSON);
--interval and --trace wait once for them all (one traced window, every
namespace traced at once).

Exit status: 0 whether or not there are findings (gating is check's job),
2 on a bad flag value, 3 when the listeners could not be read.`,
		Example: `  # what is wrong right now
  backlogctl advise

  # judge the counters by what changes in 10 seconds
  backlogctl advise --interval 10s

  # size the backlog of port 443 for 20000 connections/s waiting 5ms for accept()
  backlogctl advise --port 443 --rate 20000 --accept-latency 5ms

  # watch the listeners for 10 seconds with eBPF; size from the measured load
  backlogctl advise --trace 10s

  # what a busy front end should have, for a script
  backlogctl advise --profile high-concurrency -o json | jq '.findings[] | select(.severity != "info")'`,
		Args: cmdutil.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Roots = f.Roots
			opts.IntervalSet = c.Flags().Changed("interval")
			opts.RateSet = c.Flags().Changed("rate")
			opts.LatencySet = c.Flags().Changed("accept-latency")
			opts.TraceSet = c.Flags().Changed("trace")
			if err := opts.Validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return adviseRun(opts)
		},
	}
	cmdutil.AddPortFlag(cmd, &opts.Ports, "judge only listeners on")
	cmdutil.AddPathFlag(cmd, &opts.Paths, "judge only listeners on")
	cmd.Flags().DurationVar(&opts.Interval, "interval", 0, "take two samples this far apart and judge counters by their change (e.g. 10s)")
	cmd.Flags().Float64Var(&opts.Rate, "rate", 0, "peak new connections per second, for backlog sizing (needs --accept-latency)")
	cmd.Flags().DurationVar(&opts.AcceptLatency, "accept-latency", 0, "how long a connection waits for accept(), for backlog sizing (needs --rate)")
	cmdutil.AddTraceListenersFlag(cmd, &opts.TraceListeners)
	cmdutil.AddTraceModeFlag(cmd, &opts.TraceMode, string(collect.TraceFull))
	cmd.Flags().DurationVar(&opts.Trace, "trace", 0, "trace the listeners with eBPF for `DURATION` and cite what was seen (exact high water, overflows, stalls, accept waits and errors)")
	cmd.Flags().StringVar(&opts.Profile, "profile", "", "report keys below the profile `NAME`: "+profileNames())
	nsflag.Add(cmd, &opts.Namespaces)
	cmd.Flags().StringVar(&opts.StateDir, "state-dir", sysctl.DefaultStateDir, "`DIR` where tune records what it changed (to tell listeners that predate a change)")
	_ = cmd.RegisterFlagCompletionFunc("profile", cmdutil.CompleteProfiles)
	cmdutil.AddTableOutputFlag(cmd, opts.IO, &opts.Output, formats...)
	return cmd
}

func profileNames() string { return strings.Join(advise.ProfileNames(), ", ") }

// profileHelp lists the profiles for --help, from the same table tune uses.
func profileHelp() string {
	var b strings.Builder
	for _, p := range advise.Profiles {
		fmt.Fprintf(&b, "  %-17s %s\n", p.Name, p.Description)
		keys := make([]string, 0, len(p.Targets))
		for k := range p.Targets {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			op := ">="
			if p.Exact[k] {
				op = "="
			}
			fmt.Fprintf(&b, "  %-17s   %s %s %d\n", "", k, op, p.Targets[k])
		}
	}
	return b.String()
}

// Validate checks the flags before anything is read.
func (o *Options) Validate() error {
	if err := cmdutil.CheckTraceFlags(o.TraceListeners, &o.TraceMode, string(collect.TraceFull)); err != nil {
		return err
	}
	if err := cmdutil.CheckOutput(o.Output, formats...); err != nil {
		return err
	}
	if err := o.Namespaces.Validate(); err != nil {
		return err
	}
	if _, err := cmdutil.Ports(o.Ports); err != nil {
		return err
	}
	if _, err := cmdutil.Paths(o.Paths); err != nil {
		return err
	}
	if o.IntervalSet && o.Interval <= 0 {
		return cmdutil.UsageErrorf("invalid --interval %v: want a duration above 0, e.g. 10s", o.Interval)
	}
	if o.RateSet && (o.Rate <= 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0)) {
		return cmdutil.UsageErrorf("invalid --rate %v: want connections per second above 0", o.Rate)
	}
	if o.LatencySet && o.AcceptLatency <= 0 {
		return cmdutil.UsageErrorf("invalid --accept-latency %v: want a duration above 0, e.g. 5ms", o.AcceptLatency)
	}
	if o.TraceSet && o.Trace <= 0 {
		return cmdutil.UsageErrorf("invalid --trace %v: want a duration above 0, e.g. 10s", o.Trace)
	}
	if o.TraceSet && o.IntervalSet {
		return cmdutil.UsageErrorf("--trace D already judges the counters over its window of D: give --trace or --interval, not both")
	}
	if o.RateSet != o.LatencySet && !o.TraceSet {
		return cmdutil.UsageErrorf("--rate and --accept-latency go together (or one with --trace, which measures the other): sizing needs both the connection rate and how long each waits for accept()")
	}
	if o.Profile != "" {
		if _, err := advise.LookupProfile(o.Profile); err != nil {
			return cmdutil.UsageErrorf("invalid --profile: %v", err)
		}
	}
	return nil
}

// Report is what advise prints: the table is drawn from it and -o json
// marshals it. Field names are stable; new fields may be added.
type Report struct {
	// Netns is the namespace judged, with --netns or --all-netns.
	Netns  *model.Namespace `json:"netns,omitempty"`
	Time   time.Time        `json:"time"`
	Kernel string           `json:"kernel,omitempty"`
	// IntervalSeconds is set when counters were judged by their change.
	IntervalSeconds float64 `json:"interval_seconds,omitempty"`
	// ChildNetns is true outside the initial network namespace, where the
	// counters started when the namespace was created.
	ChildNetns bool             `json:"child_netns,omitempty"`
	Profile    string           `json:"profile,omitempty"`
	Sizing     *SizingReport    `json:"sizing,omitempty"`
	Findings   []advise.Finding `json:"findings"`
	// Plan holds the sysctl changes the warnings recommend (advise.PlanFindings).
	Plan     advise.Plan `json:"plan"`
	Warnings []string    `json:"warnings,omitempty"`
	// Trace is the eBPF evidence the findings cite, with --trace.
	Trace *model.AdviseTrace `json:"trace,omitempty"`
}

// SizingReport echoes --rate and --accept-latency and the backlog they need.
type SizingReport struct {
	Rate                 float64 `json:"rate_per_second"`
	AcceptLatencySeconds float64 `json:"accept_latency_seconds"`
	Backlog              int64   `json:"recommended_backlog"`
	// Measured names the inputs measured by --trace rather than given.
	Measured []string `json:"measured,omitempty"`
}

func adviseRun(o *Options) error {
	ports, _ := cmdutil.Ports(o.Ports)
	co := collect.Options{Roots: o.Roots, Namespaces: o.Namespaces.Collect(), Ports: ports, Paths: o.Paths, Stall: traceStall, Pods: true}
	if o.Trace > 0 {
		co.Trace, co.TraceListeners = collect.TraceModeOf(o.TraceMode), o.TraceListeners
	}
	stop := o.IO.StartCountdown(o.waiting())
	all, notes, err := o.Collect(co, collect.SampleOptions{Interval: o.Interval, Trace: o.Trace,
		TraceInterval: traceReadInterval, StateDir: o.StateDir})
	stop()
	if err != nil {
		return nsflag.Error(err)
	}
	reps := make([]*Report, 0, len(all))
	for _, s := range all {
		r, err := o.report(s)
		if err != nil {
			return err
		}
		reps = append(reps, r)
	}
	if !o.Namespaces.Set() {
		return o.render(reps[0])
	}
	return o.renderNamespaces(reps, notes)
}

// waiting says what advise waits for, and how long: the --interval between
// two samples, or the --trace window (none: it does not wait).
func (o *Options) waiting() (string, time.Duration) {
	watched := cmdutil.Watched(o.Ports, o.Paths, o.Namespaces.Netns, o.Namespaces.All)
	if o.Trace > 0 {
		return "tracing " + watched + " with eBPF for " + o.Trace.String(), o.Trace
	}
	return "sampling " + watched + " and the counters " + o.Interval.String() + " apart", o.Interval
}

// report judges one namespace's samples.
func (o *Options) report(s *model.Samples) (*Report, error) {
	in := advise.InputOf(s)
	if o.RateSet && o.LatencySet {
		in.Sizing = &advise.Sizing{Rate: o.Rate, AcceptLatency: o.AcceptLatency}
	}
	if o.Profile != "" {
		p, err := advise.LookupProfile(o.Profile)
		if err != nil {
			return nil, cmdutil.UsageErrorf("invalid --profile: %v", err)
		}
		in.Profile = &p
	}
	advise.MeasureSizing(&in, o.Rate, o.RateSet, o.AcceptLatency, o.LatencySet)
	findings := advise.Advise(in)
	r := &Report{
		Netns: s.Netns, Time: in.Now.Snapshot.Time, Kernel: in.Now.Snapshot.Kernel,
		Findings: findings, Plan: advise.PlanFindings(findings),
		Warnings: s.Warnings, ChildNetns: in.ChildNetns,
	}
	if in.Before != nil {
		r.IntervalSeconds = in.Interval.Seconds()
	}
	if in.Profile != nil {
		r.Profile = in.Profile.Name
	}
	if s := in.Sizing; s != nil {
		r.Sizing = &SizingReport{Rate: model.Round(s.Rate), AcceptLatencySeconds: model.Round(s.AcceptLatency.Seconds()), Backlog: s.Backlog(), Measured: in.SizingMeasured}
		if b, ok := advise.SizedBacklog(findings); ok {
			r.Sizing.Backlog = b
		}
	}
	if in.TraceSeconds > 0 {
		r.Trace = model.NewAdviseTrace(in.Now.Snapshot, s.TraceSince, in.TraceSeconds, in.TraceStall)
		r.Trace.SizingMeasured = in.SizingMeasured
	}
	if r.Findings == nil {
		r.Findings = []advise.Finding{}
	}
	if r.Plan.Changes == nil {
		r.Plan.Changes = []advise.Change{}
	}
	return r, nil
}

// render prints one report.
func (o *Options) render(r *Report) error {
	switch o.Output {
	case "json":
		return cmdutil.PrintData(o.IO, r)
	case "table":
		return renderTable(o.IO, r)
	default:
		return cmdutil.UsageErrorf("invalid --output %q", o.Output)
	}
}
