// Package tune is the `backlogctl tune` command: it plans sysctl changes,
// shows them as a diff and, with --apply, makes them all or none.
package tune

import (
	"os"
	"path/filepath"
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

// Options are tune's inputs; tests fill them and call tuneRun directly.
type Options struct {
	IO *iostreams.IOStreams
	// Roots are where the host is read from: the factory's.
	Roots hostfs.Roots

	Profile    string
	Sets       []string
	Apply      bool
	Rollback   bool
	AllowLower bool
	Yes        bool
	// PersistFile is the sysctl.d file to write; "" means do not persist.
	PersistFile string
	StateDir    string
	Output      string
	// Search is where boot-time settings are looked for (override detection).
	Search sysctl.ConfSearch
	// ForceNew starts a new apply although the last one is unresolved; the
	// old record is kept inside the new one.
	ForceNew bool
	// Force lets --rollback restore keys outside the registry, which only
	// sysctl set --force records.
	Force bool
	// Commit makes a prepared transaction's writes; nil means (*sysctl.Txn).Commit.
	// Tests wrap it to make the kernel refuse a write after the checks passed.
	Commit func(*sysctl.Txn) error
	// BeforeRestore, when set, runs just before --rollback writes; tests
	// use it to inject a fault at that moment.
	BeforeRestore func()

	// superseded is the unresolved record --force-new replaces.
	superseded *sysctl.State

	// Interval, when set, plans from advise's findings over two samples this
	// far apart, as advise --interval judges them.
	Interval    time.Duration
	IntervalSet bool
	// Trace is --trace: plan from advise's findings over an eBPF-traced
	// window of this length, as advise --trace.
	Trace time.Duration
	// Collect asks the collector for advise's samples (collect.Samples);
	// tests replace it.
	Collect func(collect.Options, collect.SampleOptions) ([]*model.Samples, []string, error)

	// profile and sets are Validate's parsed forms of Profile and Sets.
	profile *advise.Profile
	sets    []sysctl.Setting
	// input is the evidence gathered for this run (evidence).
	input *advise.Input
}

var formats = []string{"table", "json"}

// Environment variables that point tune at fixture trees in end-to-end tests.
const (
	// EnvConfDirs lists sysctl.d directories, colon-separated, highest priority first.
	EnvConfDirs = "BACKLOGCTL_SYSCTL_D_DIRS"
	// EnvConf is the sysctl.conf read last; empty for none.
	EnvConf = "BACKLOGCTL_SYSCTL_CONF"
)

// NewCmdTune returns the tune command. runF replaces tuneRun in tests.
func NewCmdTune(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	var namespaces nsflag.Flags // --netns re-runs tune inside it; --all-netns is refused
	cmd := &cobra.Command{
		Use:   "tune [--profile NAME] [--set KEY=VALUE]... [--apply [--persist[=FILE]]] | --rollback",
		Short: "Plan sysctl changes, show them as a diff, and apply them all or none",
		Long: `Plan changes to the tunables, show them as a diff, and with --apply make them.

The plan comes from a built-in --profile and/or explicit --set KEY=VALUE
(repeatable; an explicit --set wins over the profile). With neither, it comes
from advise's findings: the sysctl changes that warning and critical findings
recommend (see backlogctl advise), judged from the same evidence advise
gathers; --interval D judges the counters over two samples D apart, as
advise --interval does; --trace D judges a window of D traced with eBPF, as
advise --trace does (an overflow seen at a listener clamped by somaxconn
plans somaxconn). Keys may be given by
full name or short alias (somaxconn). Profiles only raise values the host has
lower (except exact keys such as tcp_syncookies=1). Changes are made in
registry order.

Each row shows the key, its current and new value, its scope and why. Scope is
the network namespace the value lives in, as netns:[INODE] (the inode of
/proc/self/ns/net, as lsns and ip netns identify show it), or global for
host-wide keys. A per-netns key changed here does not change the host's or
another container's value.

Without --apply nothing is changed. With --apply (root):
  1. every value is validated against the key's type and range, every key is
     read and opened for writing: bad input or a read-only /proc/sys is
     reported before anything is written;
  2. on a terminal you are asked to confirm (--yes skips it; without a
     terminal --yes is required);
  3. the previous values are recorded in the state directory
     (--state-dir, default /var/lib/backlogctl, written atomically);
  4. each value is written and read back; if any write fails, every value
     already changed is restored and tune exits 3 naming the key and why. A
     value that cannot be restored stays owed in the record: tune says so,
     and --rollback keeps trying it.
SIGINT, SIGTERM or SIGHUP from step 3 on waits for the write in progress;
then every value written is restored, the record says so, and tune exits
128+signal (130 for Ctrl-C, 143 for kill).

A new --apply (or sysctl set) refuses to start while the last change is
unresolved -- it was interrupted midway, or owes values it could not
restore -- naming it and the command that resolves it: --rollback, or
--force-new to start anyway. The old record is kept inside the new one and
its original values are carried: a --rollback then restores every key to
its value before either change, and the persisted file as it was before
both.

The state directory is trusted only as sshd and sudo trust a path: it, and
every directory above it, must be owned by root or you and not be writable
by group or others (unless sticky, as /tmp), and it must not be a symlink;
the record and the lock in it must be regular files owned by root or you,
not writable by others. Otherwise tune refuses (exit 3) before reading what
the directory holds: a record another user planted must not steer a run
as root.

Lowering a size needs --allow-lower, the rule sysctl set and rlimit set
share; mode keys (tcp_syncookies, tcp_abort_on_overflow) choose a
behaviour, so setting them never does. Values are decimal: 010 or 0x10,
which the kernel would read as 8 or 16, are refused.

A raised net.core.somaxconn reaches a listener only when its program calls
listen() again. The plan, and the result of --apply, list the listeners whose
backlog is the current somaxconn (they were clamped by it and keep that
backlog) with their owner and how to restart them (the systemd unit where
known). Only one run at a time may change
tunables: a second one exits 3 while the first holds the lock.

--persist[=FILE] also writes the changes to FILE (default
/etc/sysctl.d/90-backlogctl.conf, atomically, with a header and a comment per
setting saying why), so they survive a reboot. FILE must be a *.conf file in
one of the sysctl.d directories below (exit 2 otherwise: nothing else is
read at boot), and one backlogctl wrote, or new. It warns when another file in
the boot-time search order would override one of its keys: files from
/etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d, /usr/lib/sysctl.d and
/lib/sysctl.d sorted by name (the first directory wins for the same name;
later files win), then /etc/sysctl.conf, read last by sysctl --system.

--rollback restores the values recorded by the last change -- a tune --apply
or a sysctl set -- (and the persisted file as it was), in the network
namespace that change ran in. It restores every value it can; one it cannot
write stays owed in the record, it exits 3 naming it, and the next
--rollback tries it again. Before acting it checks every field of the
record, and refuses (exit 3) one it would not have written: a key that is
not a sysctl name, a value the key does not accept, a persisted file outside
the sysctl.d directories or earlier content that is not a file backlogctl
wrote. A key outside the registry, which only sysctl set --force records, is
restored only with --force (exit 2 without). The persisted file is put back
only while it holds exactly what backlogctl wrote: an administrator's edit
(or removal) since is left as it is, with a warning, and the live values are
restored all the same.

--netns NAME|PATH runs the whole of tune (snapshot, plan, apply, record,
rollback) inside that network namespace, through nsenter(1), and changes
only that namespace's own (per-netns) keys: a --set of a global key
(fs.file-max, fs.nr_open, net.core.netdev_max_backlog), which has one value
for the whole host, is refused (exit 2) before anything is read, and a
profile's or a finding's global keys are left out of the plan with a
warning. SIGINT, SIGTERM and SIGHUP are passed on to the run inside the
namespace; tune waits for it and exits as it did. --all-netns is refused
(exit 2): a write names the one namespace it changes.`,
		Example: `  # what do advise's findings say to change?
  backlogctl tune

  # the same, judging the counters over 10 seconds as advise --interval 10s
  backlogctl tune --interval 10s

  # what would the default profile change?
  backlogctl tune --profile default

  # raise somaxconn now, and at every boot
  sudo backlogctl tune --set somaxconn=8192 --apply --persist

  # in a script
  sudo backlogctl tune --profile high-concurrency --apply --yes -o json

  # undo the last apply (or sysctl set)
  sudo backlogctl tune --rollback --yes

  # plan and apply inside a container's network namespace
  sudo backlogctl tune --netns /proc/4242/ns/net --set somaxconn=8192 --apply --yes`,
		Args: cmdutil.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Roots = f.Roots
			opts.Search = searchFromEnv()
			opts.IntervalSet = c.Flags().Changed("interval")
			if err := checkNamespaces(namespaces); err != nil {
				return err
			}
			if err := opts.Validate(); err != nil {
				return err
			}
			if namespaces.Netns != "" {
				if err := checkSetScopes(opts.sets, false); err != nil {
					return err
				}
			}
			if runF != nil {
				return runF(opts)
			}
			if namespaces.Netns != "" {
				// The whole run, its record and a rollback belong to it.
				return namespaces.RunInside(opts.Roots, opts.IO.In, opts.IO.Out, opts.IO.ErrOut)
			}
			return tuneRun(opts)
		},
	}
	fl := cmd.Flags()
	nsflag.AddForWrite(cmd, &namespaces)
	fl.StringVar(&opts.Profile, "profile", "", "plan from the built-in profile `NAME`: "+profileNames())
	fl.StringArrayVar(&opts.Sets, "set", nil, "plan `KEY=VALUE` (repeatable; wins over --profile)")
	fl.BoolVar(&opts.Apply, "apply", false, "make the changes (root); without it nothing is changed")
	fl.BoolVar(&opts.Rollback, "rollback", false, "restore the values recorded by the last apply or sysctl set")
	cmdutil.AddAllowLowerFlag(cmd, &opts.AllowLower, cmdutil.AllowLowerHelp)
	fl.BoolVar(&opts.Force, "force", false, "with --rollback, also restore keys outside backlogctl's registry (recorded by sysctl set --force)")
	fl.BoolVar(&opts.ForceNew, "force-new", false, "with --apply, start even though the last change is unresolved (its record is kept in the new one)")
	fl.BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation (required without a terminal)")
	fl.StringVar(&opts.PersistFile, "persist", "", "with --apply, also write the changes to the sysctl.d `FILE`")
	fl.Lookup("persist").NoOptDefVal = sysctl.DefaultPersistFile
	fl.DurationVar(&opts.Trace, "trace", 0, "plan from advise's findings over an eBPF-traced window of `DURATION`, as advise --trace")
	fl.DurationVar(&opts.Interval, "interval", 0, "plan from advise's findings over two samples this far apart, as advise --interval (e.g. 10s)")
	fl.StringVar(&opts.StateDir, "state-dir", sysctl.DefaultStateDir, "`DIR` for the record of the last change and the lock")
	cmdutil.AddTableOutputFlag(cmd, opts.IO, &opts.Output, formats...)
	_ = cmd.RegisterFlagCompletionFunc("profile", cmdutil.CompleteProfiles)
	_ = cmd.RegisterFlagCompletionFunc("set", cmdutil.CompleteSysctlSettings)
	return cmd
}

func profileNames() string { return strings.Join(advise.ProfileNames(), ", ") }

// searchFromEnv returns the boot-time search order, or the fixture one the
// environment names.
func searchFromEnv() sysctl.ConfSearch {
	s := sysctl.DefaultConfSearch()
	if v, ok := os.LookupEnv(EnvConfDirs); ok {
		s.Dirs = filepath.SplitList(v)
	}
	if v, ok := os.LookupEnv(EnvConf); ok {
		s.Conf = v
	}
	return s
}

// Validate checks flags, keys and values before anything is read or written.
func (o *Options) Validate() error {
	if err := cmdutil.CheckOutput(o.Output, formats...); err != nil {
		return err
	}
	if o.Rollback {
		if o.Profile != "" || len(o.Sets) > 0 || o.Apply || o.PersistFile != "" || o.AllowLower || o.ForceNew {
			return cmdutil.UsageErrorf("--rollback takes no --profile, --set, --apply, --persist, --allow-lower or --force-new: it restores what the last apply recorded")
		}
	}
	if o.Force && !o.Rollback {
		return cmdutil.UsageErrorf("--force needs --rollback: it lets a rollback restore keys outside the registry that sysctl set --force recorded")
	}
	if o.ForceNew && !o.Apply {
		return cmdutil.UsageErrorf("--force-new needs --apply: it starts a new change over an unresolved one")
	}
	if o.IntervalSet && o.Interval <= 0 {
		return cmdutil.UsageErrorf("invalid --interval %v: want a duration above 0, e.g. 10s", o.Interval)
	}
	if o.Trace < 0 {
		return cmdutil.UsageErrorf("invalid --trace %v: want a duration above 0, e.g. 10s", o.Trace)
	}
	if o.Trace > 0 && (o.IntervalSet || o.Profile != "" || len(o.Sets) > 0 || o.Rollback) {
		return cmdutil.UsageErrorf("--trace plans from advise's findings over its window: it takes no --interval, --profile, --set or --rollback")
	}
	if o.IntervalSet && (o.Profile != "" || len(o.Sets) > 0 || o.Rollback) {
		return cmdutil.UsageErrorf("--interval plans from advise's findings: it takes no --profile, --set or --rollback")
	}
	if o.PersistFile != "" && !o.Apply {
		return cmdutil.UsageErrorf("--persist needs --apply: tune persists the changes it makes")
	}
	if o.PersistFile != "" && (!filepath.IsAbs(o.PersistFile) || filepath.Clean(o.PersistFile) != o.PersistFile) {
		return cmdutil.UsageErrorf("invalid --persist %q: want an absolute path, without . or .. parts", o.PersistFile)
	}
	if o.StateDir == "" {
		return cmdutil.UsageErrorf("invalid --state-dir: empty")
	}
	o.profile = nil
	if o.Profile != "" {
		p, err := advise.LookupProfile(o.Profile)
		if err != nil {
			return cmdutil.UsageErrorf("invalid --profile: %v", err)
		}
		o.profile = &p
	}
	o.sets = nil
	seen := map[string]string{}
	for _, arg := range o.Sets {
		k, v, err := sysctl.ParseAssignment(arg, false)
		if err != nil {
			return cmdutil.UsageErrorf("invalid --set: %v", err)
		}
		if prev, dup := seen[k.Name]; dup {
			return cmdutil.UsageErrorf("invalid --set: %s given twice (%s and %s)", k.Name, prev, arg)
		}
		seen[k.Name] = arg
		o.sets = append(o.sets, sysctl.Setting{Key: k.Name, Value: v})
	}
	return nil
}

func tuneRun(o *Options) error {
	if o.Rollback {
		return rollbackRun(o)
	}
	return applyRun(o)
}

func (o *Options) commit(txn *sysctl.Txn) error {
	if o.Commit != nil {
		return o.Commit(txn)
	}
	return txn.Commit()
}
