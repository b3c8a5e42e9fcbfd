// Package check is the `backlogctl check` command.
package check

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/check"
	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nsflag"
	"github.com/backlogctl/backlogctl/model"
)

// Options are check's inputs; tests fill them and call checkRun directly.
type Options struct {
	IO *iostreams.IOStreams
	// Roots are where the host is read from: the factory's.
	Roots hostfs.Roots

	Requires   []string
	PolicyFile string
	Profile    string
	Ports      []uint
	Paths      []string
	Observe    time.Duration
	// TraceListeners raises eBPF's listener table (--trace-listeners).
	TraceListeners int
	// TraceMode is --trace-mode: queue or full.
	TraceMode      string
	SampleInterval time.Duration
	Missing        string
	Output         string
	Quiet          bool
	// Namespaces are --netns and --all-netns: judge inside other network
	// namespaces, each separately.
	Namespaces nsflag.Flags

	// Set reports whether a flag was given on the command line, so that it
	// overrides the policy file; nil means none was.
	Set func(flag string) bool

	// Reasons, when set, supplies the failure reasons for an observation
	// (e.g. from advise findings); nil means check.KernelReasons.
	Reasons func(*model.Observation) check.Reasoner

	// Collect asks the collector for the observations (collect.Observe);
	// replaced in tests (with its Options' OpenTrace, for example).
	Collect func(context.Context, collect.Options, collect.ObserveOptions) ([]collect.Observed, []string, error)
	// Stall is --stall, the threshold of listener.stalled.
	Stall time.Duration

	// Filled by Complete.
	requirements []check.Requirement
	ports        []uint16
	paths        []string
	missing      check.Missing
}

var formats = []string{"table", "json", "junit", "github"}

// DefaultSampleInterval is how often queues are sampled with --observe.
const DefaultSampleInterval = 100 * time.Millisecond

// DefaultStall is --stall's default, as trace's.
const DefaultStall = time.Second

// NewCmdCheck returns the check command. runF replaces checkRun in tests.
func NewCmdCheck(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Collect: collect.Observe, Reasons: adviseReasons}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Prove this host meets requirements: exit 0 if all hold, 1 if any fails",
		Long: `Evaluate requirements against this host, for a pipeline before a rollout or
beside a load test. Each requirement is SUBJECT OP VALUE, OP one of
>= <= > < == != (spaces around it allowed). Subjects:

  any tunable, by name or alias   net.core.somaxconn>=4096, somaxconn>=4096,
                                  tcp_syncookies==1, fs.file-max>=2097152
  listener.FIELD                  every listener, TCP and Unix (or those on
                                  --port, --path): accept_queue,
                                  accept_queue_max, fill, drops, syn_queue
                                  (a Unix listener has no drops or syn_queue)
  process.FIELD                   every process owning such a listener:
                                  nofile_soft, nofile_hard, open_fds, fd_usage
  files.FIELD                     usage (fs.file-nr against fs.file-max),
                                  allocated, max, nr_open
  counter.NAME                    any kernel counter inspect reports, by its
                                  nstat name: counter.TcpExtListenOverflows==0

Traced subjects, measured exactly with eBPF over an --observe window (as
'backlogctl trace' measures them; they need --observe):

  listener.accept_wait_p99        p99 seconds from entering the accept queue
                                  to accept() returning (a log2 bucket bound);
                                  with none returned while connections
                                  waited, the oldest one's wait so far
  listener.accept_wait_max        the longest wait, exact: of a connection
                                  accept() returned, or of one still queued
  listener.oldest_queued          the longest a connection still in the
                                  queue had waited at any read: a stall in
                                  progress, before any accept() ends it
  listener.high_water_fill        the longest accept queue over backlog+1,
                                  what a full queue holds: 1 means it was full
  listener.overflows              connections dropped because the queue was
                                  full, at SYN and at final-ACK time
  listener.stalled                1 if the queue held connections with no
                                  accept() for --stall or longer, else 0
  listener.connect_eagain         connect() calls a full Unix listener
                                  refused with EAGAIN (0 for TCP listeners;
                                  full --trace-mode only)
  process.accept_errors[.ERRNO]   failed accept() calls of each owner (all,
                                  or one errno: process.accept_errors.EMFILE)

Tracing needs BTF and CAP_BPF with CAP_PERFMON (see 'backlogctl trace
--check'). Where the kernel does not allow it, check says so in one line,
judges the sampled subjects as usual, and reports the traced ones as not
evaluated (exit 3 unless --missing says otherwise).

Requirements come from --require (repeatable), --policy FILE (YAML, see
docs/REFERENCE.md, "Policy file") and --profile NAME: the profiles tune
applies, so 'check --profile X' verifies what 'tune --profile X --apply'
set (each key at least its target, exactly its target for syncookies and
abort_on_overflow).

A listener or process requirement must hold for every listener or process it
covers; one matching nothing is not passed but reported as "no listener
matched". A requirement that cannot be evaluated here (permission, a key or
counter absent in this kernel or namespace) exits 3 unless --missing says
pass or fail.

With --observe DURATION, counters and listener drops are judged by their
increase during the window, not since boot, and accept_queue, fill and
syn_queue by the peak seen while sampling every --sample-interval. A listener
that appears during the window is judged from its first sample (all its drops
count: they happened since it was created); one that disappears keeps what was
seen until then. Tunables, files.* and process.* are read once, at the end.
Ctrl-C ends the window early and judges what was seen.

--netns NAME|PATH (a name under /run/netns, or a path such as
/proc/PID/ns/net) judges the requirements inside that network namespace:
its own per-netns tunables, counters and listeners. --all-netns judges them
in every namespace on the host, each separately; one that vanishes or cannot
be entered mid-scan is skipped with a note. Every result is labelled with its
namespace (a NETNS column, "netns" in JSON, a "LABEL: " prefix on JUnit
testcases and GitHub titles) and the exit status is the worst over all of
them. --observe works with both: each namespace is watched at the same time,
its counters and listeners read from inside it.

Output (-o): table (or its older name text), one line per requirement
(status, subject, observed, expected, and why for a failure; the namespace
first with --netns or --all-netns); json; junit (JUnit XML, one testcase per
requirement); github (workflow annotations). -q prints nothing: the exit code
speaks.

Exit status: 0 all hold; 1 at least one failed (also when others could not be
evaluated); 2 usage or policy error; 3 a requirement could not be evaluated.`,
		Example: `  # before a rollout
  backlogctl check --require 'somaxconn>=4096' --require 'tcp_syncookies==1' \
    --port 443 --require 'listener.accept_queue_max>=1024' --require 'process.nofile_soft>=65536'

  # what tune set, still set?
  backlogctl check --profile high-concurrency

  # beside a load test: nothing may overflow during it
  backlogctl check --observe 60s --require counter.TcpExtListenOverflows==0 \
    --port 8080 --require 'listener.fill<0.9' -o junit > check.xml

  # beside a load test: p99 accept wait under 10ms, no accept() failing
  backlogctl check --observe 60s --port 8080 --require 'listener.accept_wait_p99<0.01' \
    --require process.accept_errors==0 --require listener.stalled==0 -o junit

  # a policy file in CI, annotated on the pull request
  backlogctl check --policy examples/check-policy.yaml -o github

  # every network namespace (containers, pods) on this host
  backlogctl check --all-netns --require 'somaxconn>=4096' --require tcp_syncookies==1

  # one container's namespace, through a load test
  backlogctl check --netns /proc/$(pidof -s nginx)/ns/net --observe 60s \
    --require counter.TcpExtListenOverflows==0`,
		Args: cmdutil.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Roots = f.Roots
			opts.Set = func(name string) bool { return c.Flags().Changed(name) }
			if err := opts.Complete(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return checkRun(c.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&opts.Requires, "require", nil, "requirement `EXPR` as SUBJECT OP VALUE, e.g. 'somaxconn>=4096' (repeatable)")
	fl.StringVar(&opts.PolicyFile, "policy", "", "YAML policy `FILE` with requirements (schema in docs/REFERENCE.md)")
	fl.StringVar(&opts.Profile, "profile", "", "require what 'tune --profile `NAME`' sets: "+profileNames())
	cmdutil.AddPortFlag(cmd, &opts.Ports, "judge only listeners on")
	cmdutil.AddPathFlag(cmd, &opts.Paths, "judge only listeners on")
	fl.DurationVar(&opts.Observe, "observe", 0, "judge counters and drops by their increase, queues by their peak, over this window (e.g. 60s)")
	fl.DurationVar(&opts.SampleInterval, "sample-interval", DefaultSampleInterval, "how often queues are sampled with --observe")
	cmdutil.AddTraceListenersFlag(cmd, &opts.TraceListeners)
	cmdutil.AddTraceModeFlag(cmd, &opts.TraceMode, string(collect.TraceFull))
	fl.DurationVar(&opts.Stall, "stall", DefaultStall, "with --observe, listener.stalled is a queue held this `LONG` without an accept()")
	fl.StringVar(&opts.Missing, "missing", string(check.MissingError), "a requirement that cannot be evaluated here counts as `OUTCOME`: error (exit 3), pass or fail")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "print nothing; the exit code speaks")
	nsflag.Add(cmd, &opts.Namespaces)
	cmdutil.AddTableOutputFlag(cmd, opts.IO, &opts.Output, formats...)
	_ = cmd.RegisterFlagCompletionFunc("profile", cmdutil.CompleteProfiles)
	_ = cmd.RegisterFlagCompletionFunc("require", completeRequirement)
	_ = cmd.RegisterFlagCompletionFunc("missing", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"error", "pass", "fail"}, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func profileNames() string { return strings.Join(advise.ProfileNames(), ", ") }

func (o *Options) set(flag string) bool { return o.Set != nil && o.Set(flag) }

// Complete validates the flags, reads the policy file and merges it with
// the flags (a flag given on the command line wins over the policy).
func (o *Options) Complete() error {
	if err := cmdutil.CheckOutput(o.Output, formats...); err != nil {
		return err
	}
	if err := cmdutil.CheckTraceFlags(o.TraceListeners, &o.TraceMode, string(collect.TraceFull)); err != nil {
		return err
	}
	if err := o.Namespaces.Validate(); err != nil {
		return err
	}
	var err error
	if o.ports, err = cmdutil.Ports(o.Ports); err != nil {
		return err
	}
	if o.paths, err = cmdutil.Paths(o.Paths); err != nil {
		return err
	}
	if o.missing, err = check.ParseMissing(o.Missing); err != nil {
		return cmdutil.UsageErrorf("invalid --missing: %v", err)
	}
	if o.Observe < 0 {
		return cmdutil.UsageErrorf("invalid --observe %v: want a positive duration like 60s", o.Observe)
	}
	if o.SampleInterval <= 0 {
		return cmdutil.UsageErrorf("invalid --sample-interval %v: want a positive duration like 100ms", o.SampleInterval)
	}
	o.requirements = nil
	if o.PolicyFile != "" {
		p, err := check.LoadPolicy(o.PolicyFile)
		if err != nil {
			return cmdutil.UsageErrorf("%v", err)
		}
		o.mergePolicy(p)
	}
	for _, s := range o.Requires {
		e, err := check.ParseExpr(s)
		if err != nil {
			return cmdutil.UsageErrorf("--require: %v", err)
		}
		o.requirements = append(o.requirements, check.Requirement{Expr: e, Source: "--require"})
	}
	if o.Profile != "" {
		p, err := advise.LookupProfile(o.Profile)
		if err != nil {
			return cmdutil.UsageErrorf("invalid --profile: %v", err)
		}
		o.requirements = append(o.requirements, check.ProfileRequirements(p)...)
	}
	if len(o.requirements) == 0 {
		return cmdutil.UsageErrorf("nothing to check: give --require EXPR, --policy FILE or --profile NAME")
	}
	if o.Stall <= 0 {
		o.Stall = DefaultStall
	}
	for _, r := range o.requirements {
		if r.Expr.Subject.Traced() && o.Observe == 0 {
			return cmdutil.UsageErrorf("%s is measured by tracing over a window: give --observe DURATION", r.Expr.Subject.Name())
		}
	}
	return nil
}

func (o *Options) mergePolicy(p *check.Policy) {
	o.requirements = append(o.requirements, p.Requirements...)
	if p.Profile != nil {
		o.requirements = append(o.requirements, check.ProfileRequirements(*p.Profile)...)
	}
	// The policy's selection applies unless the command line makes one.
	if (len(p.Ports) > 0 || len(p.Paths) > 0) && !o.set("port") && !o.set("path") {
		o.ports, o.paths = p.Ports, p.Paths
	}
	if p.Observe > 0 && !o.set("observe") {
		o.Observe = p.Observe
	}
	if p.SampleInterval > 0 && !o.set("sample-interval") {
		o.SampleInterval = p.SampleInterval
	}
	if p.Missing != "" && !o.set("missing") {
		o.missing = p.Missing
	}
}

// needsProcesses reports whether any requirement needs listener owners,
// the only part that scans /proc.
func needsProcesses(reqs []check.Requirement) bool {
	for _, r := range reqs {
		if r.Expr.Subject.Kind == check.KindProcess {
			return true
		}
	}
	return false
}

// minTraceInterval bounds how often a traced window re-reads the evidence
// and the queues (to time peaks and catch stalls that end early).
const minTraceInterval = 100 * time.Millisecond

// needsTrace reports whether any requirement is judged by eBPF tracing.
func needsTrace(reqs []check.Requirement) bool {
	for _, r := range reqs {
		if r.Expr.Subject.Traced() {
			return true
		}
	}
	return false
}

func checkRun(ctx context.Context, o *Options) error {
	co := collect.Options{Roots: o.Roots, Namespaces: o.Namespaces.Collect(), Ports: o.ports, Paths: o.paths, Stall: o.Stall}
	if needsProcesses(o.requirements) {
		co.Owners = collect.OwnersOn
	}
	if o.Observe > 0 && needsTrace(o.requirements) {
		co.Trace, co.TraceListeners = collect.TraceModeOf(o.TraceMode), o.TraceListeners
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if o.Observe > 0 {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	stop := func() {}
	if !o.Quiet {
		stop = o.IO.StartCountdown("observing "+cmdutil.Watched(uintPorts(o.ports), o.paths, o.Namespaces.Netns, o.Namespaces.All)+
			" and the counters for "+o.Observe.String()+" (Ctrl-C ends the window early)", o.Observe)
	}
	views, notes, err := o.Collect(ctx, co, collect.ObserveOptions{Window: o.Observe, Interval: o.SampleInterval, TraceInterval: minTraceInterval})
	stop()
	if err != nil {
		return nsflag.Error(err)
	}
	report := &Report{Time: time.Now().UTC(), Results: []check.Result{}, Notes: notes}
	for _, v := range views {
		label := ""
		if v.Netns != nil {
			label = v.Netns.Label()
		}
		eo := check.EvalOptions{Missing: o.missing}
		if o.Reasons != nil {
			eo.Reasons = o.Reasons(v.Observation)
		}
		results := check.Evaluate(o.requirements, v.Observation, eo)
		for i := range results {
			results[i].Netns = label
		}
		report.add(results, v.Observation, label)
	}
	report.judge()
	if !o.Quiet {
		if err := render(o.IO, o.Output, report); err != nil {
			return err
		}
		printAside(o, report)
	}
	err = report.err()
	if err != nil && o.Quiet {
		return cmdutil.Silence(err)
	}
	return err
}

func uintPorts(ports []uint16) []uint {
	out := make([]uint, len(ports))
	for i, p := range ports {
		out[i] = uint(p)
	}
	return out
}

// printAside prints the namespace notes and the warnings: JSON carries them,
// GitHub annotates them, other formats use stderr.
func printAside(o *Options, r *Report) {
	aside(o, "notice", "note", r.Notes)
	aside(o, "warning", "warning", r.Warnings)
}

// aside prints msgs as GitHub annotations at level, or on stderr as kind.
func aside(o *Options, level, kind string, msgs []string) {
	for _, m := range msgs {
		switch o.Output {
		case "json":
		case "github":
			fmt.Fprintf(o.IO.Out, "::%s title=backlogctl check::%s\n", level, escapeData(m))
		default:
			if kind == "note" {
				o.IO.Note(m)
			} else {
				o.IO.Warn(m)
			}
		}
	}
}

func (r *Report) err() error {
	switch r.ExitCode {
	case cmdutil.ExitOK:
		return nil
	case cmdutil.ExitFailed:
		return cmdutil.ErrSilentFailure
	}
	return cmdutil.EnvError(fmt.Errorf("%d requirement(s) could not be evaluated here (see --missing)", r.Summary.Errors))
}

// completeRequirement completes --require's subject (every subject but
// counters, and counter.NAME for the counters inspect shows); the operator
// and value are the user's to type.
func completeRequirement(_ *cobra.Command, _ []string, partial string) ([]string, cobra.ShellCompDirective) {
	var out []string
	names := check.SubjectNames()
	for _, c := range model.CounterNames {
		names = append(names, "counter."+c)
	}
	for _, name := range names {
		if cmdutil.MatchesCompletion(name, partial) {
			out = append(out, name)
		}
	}
	return out, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
}
