// Package rlimit is the `backlogctl rlimit` command: descriptor limits of the
// processes that accept connections, and `rlimit set` to change them.
package rlimit

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nsflag"
	"github.com/backlogctl/backlogctl/model"
)

// Options are the listing's inputs; tests fill them and call listRun directly.
type Options struct {
	IO *iostreams.IOStreams
	// Roots are where the host is read from: the factory's.
	Roots  hostfs.Roots
	PIDs   []int
	Output string
	// Namespaces are --netns and --all-netns: find the owners of the
	// listeners in other network namespaces.
	Namespaces nsflag.Flags

	// Limits asks the collector for the report (collect.Limits); replaced
	// in tests.
	Limits func(collect.Options, []int) (*model.LimitsReport, error)
}

var formats = []string{"table", "json"}

// NewCmdRlimit returns the rlimit command with its set subcommand. runF
// replaces listRun in tests.
func NewCmdRlimit(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Limits: collect.Limits}
	cmd := &cobra.Command{
		Use:   "rlimit",
		Short: "Show the descriptor limits of the processes that accept connections",
		Long: `Show RLIMIT_NOFILE for every process that owns a listening TCP socket, or for
the processes given with --pid: the soft limit (what accept() hits with
EMFILE), the hard limit (how far the process may raise it), the descriptors
open now, their ratio to the soft limit, and fs.nr_open (the ceiling no hard
limit may exceed, even for root).

An accept queue pinned full while its owner sits at its soft limit is a
descriptor problem, not a backlog one: accept() fails with EMFILE and leaves
the connection in the queue.

Columns: PID, COMM, UNIT (the systemd service the process runs in, read from
/proc/PID/cgroup: where LimitNOFILE= belongs), PORTS (the listeners it holds:
TCP ports, then Unix socket paths), OPEN, SOFT, HARD, USAGE (open/soft, as
check's process.fd_usage; 1.00 means accept() is failing), NR-OPEN, STATUS. OPEN and USAGE are "-" where
/proc/PID/fd is not readable (run as root).

STATUS judges USAGE: ok; near (within 1% of the soft limit, at least 2
descriptors); at-limit (open >= soft: accept() fails with EMFILE now, even
with a short accept queue); unknown (descriptors not readable).

Limits are per process, but listeners live in network namespaces: with
--netns NAME|PATH the owners of that namespace's listeners are shown, and with
--all-netns the owners of every namespace's listeners (a container's server
seen from the host). Owners are found by one /proc/*/fd walk on the host.
With either flag, each row is a process in one namespace, under a NETNS
column ("netns" in JSON) with that namespace's ports: a process listening in
two namespaces has a row for each.

A descriptor numbered at or above the soft limit (inherited from before the
limit was set: the kernel checks the limit only when it allocates one) is
open but takes no room below it: OPEN shows it as "64+1" and JSON as
fds_above_limit; USAGE counts only the descriptors below the limit.

To change a limit, see 'backlogctl rlimit set --help'.

Exit status: 0 on success, 1 when a process is at its soft limit (status
at-limit), 2 on a usage error, 3 when a pid has no process or the listeners
could not be read.`,
		Example: `  # every process that owns a listener
  backlogctl rlimit

  # the owners of the listeners in every network namespace (containers too)
  backlogctl rlimit --all-netns

  # two processes, for a script
  backlogctl rlimit --pid 4242 --pid 4243 -o json | jq '.processes[] | {pid, unit, usage}'

  # raise a running server's soft limit, then make it permanent
  backlogctl rlimit set --pid 4242 --nofile 65536
  backlogctl rlimit set --systemd-unit nginx --nofile 65536:65536 --write`,
		Args: noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Roots = f.Roots
			if err := opts.Validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return listRun(opts)
		},
	}
	cmd.Flags().IntSliceVar(&opts.PIDs, "pid", nil, "show the process `PID` (repeatable, or comma-separated); default: every listener's owner")
	nsflag.Add(cmd, &opts.Namespaces)
	cmdutil.AddTableOutputFlag(cmd, opts.IO, &opts.Output, formats...)
	cmd.AddCommand(NewCmdSet(f, nil))
	return cmd
}

// noArgs refuses positional arguments as a usage error (exit 2).
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return cmdutil.UsageErrorf("%s takes no arguments, got %q (see '%s --help')", c.CommandPath(), args[0], c.CommandPath())
	}
	return nil
}

// Validate checks the flags before anything is read.
func (o *Options) Validate() error {
	if err := cmdutil.CheckOutput(o.Output, formats...); err != nil {
		return err
	}
	if err := o.Namespaces.Validate(); err != nil {
		return err
	}
	for _, pid := range o.PIDs {
		if err := checkPID(pid); err != nil {
			return err
		}
	}
	return nil
}

// checkPID refuses what cannot be a process id.
func checkPID(pid int) error {
	if pid <= 0 {
		return cmdutil.UsageErrorf("invalid --pid %d: want a positive process id", pid)
	}
	return nil
}

func listRun(o *Options) error {
	rep, err := o.Limits(collect.Options{Roots: o.Roots, Namespaces: o.Namespaces.Collect(), Pods: true}, o.PIDs)
	var lerr *collect.ListenersError
	switch {
	case errors.As(err, &lerr):
		return cmdutil.EnvError(err)
	case err != nil:
		return nsflag.Error(err)
	}
	switch o.Output {
	case "json":
		err = cmdutil.PrintData(o.IO, rep)
	case "table":
		err = renderTable(o.IO, rep, o.where(), o.Namespaces.Set())
	default:
		return cmdutil.UsageErrorf("invalid --output %q", o.Output)
	}
	if err != nil {
		return err
	}
	return atLimit(o, rep)
}

// where says which namespaces were looked in, for "no process owns ...".
func (o *Options) where() string {
	switch {
	case o.Namespaces.All:
		return "in any network namespace"
	case o.Namespaces.Netns != "":
		return "in network namespace " + o.Namespaces.Netns
	}
	return "here (other network namespaces: --all-netns)"
}

// atLimit fails (exit 1, like a failed check) when a process is at its soft
// limit: its accept() fails with EMFILE now, whatever its queue shows.
func atLimit(o *Options, rep *model.LimitsReport) error {
	failed := false
	for _, p := range rep.Processes {
		if p.Status == model.StatusAtLimit {
			failed = true
			if o.Output != "json" {
				fmt.Fprintf(o.IO.ErrOut, "backlogctl: %s[%d] is at its soft RLIMIT_NOFILE (%d in use of %s): accept() fails with EMFILE; see backlogctl advise\n",
					p.Comm, p.PID, *p.OpenFDs-p.FDsAboveLimit, model.FormatLimit(p.Nofile.Soft))
			}
		}
	}
	if failed {
		return cmdutil.ErrSilentFailure
	}
	return nil
}
