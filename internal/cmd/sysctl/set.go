package sysctl

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nsflag"
	"github.com/backlogctl/backlogctl/sysctl"
)

// SetOptions are set's inputs; tests fill them and call setRun directly.
type SetOptions struct {
	IO *iostreams.IOStreams
	// Roots are where the host is read from: the factory's.
	Roots       hostfs.Roots
	Namespaces  nsflag.Flags
	Assignments []string
	Force       bool
	AllowLower  bool
	ForceNew    bool
	StateDir    string
	Output      string

	settings []sysctl.Setting
}

// NewCmdSet returns `sysctl set`. runF replaces setRun in tests.
func NewCmdSet(f *cmdutil.Factory, runF func(*SetOptions) error) *cobra.Command {
	opts := &SetOptions{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:               "set KEY=VALUE...",
		ValidArgsFunction: cmdutil.CompleteSysctlSettings,
		Short:             "Write tunables, validated and all or nothing",
		Long: `Write tunables, like sysctl -w, but safely:

  - every value is checked against the key's type and range (net.ipv4.tcp_syncookies
    is 0..255, net.core.somaxconn 0..2147483647, ...) and every key is read and
    opened for writing before the first write: bad input (exit 2), no
    permission or a read-only /proc/sys (exit 3) change nothing;
  - a value lower than the current one needs --allow-lower (exit 2 without
    it), the same rule as tune and rlimit set; mode keys (tcp_syncookies,
    tcp_abort_on_overflow) are switched, never "lowered";
  - numbers are decimal: the kernel reads 010 as 8 and 0x10 as 16, so a
    leading 0 or 0x is refused (exit 2) rather than written;
  - the previous values are recorded in --state-dir (default
    /var/lib/backlogctl) before the first write, in the same record tune
    --apply keeps: 'backlogctl tune --rollback' undoes the last set or apply;
  - each value is read back after writing; if a write fails, every value
    already written is restored and set exits 3 naming the key and why; a
    value that cannot be restored stays owed in the record, and the next
    set or apply refuses to start until tune --rollback restores it
    (--force-new starts anyway and keeps the old record in the new one);
  - SIGINT, SIGTERM or SIGHUP during the writes waits for the write in
    progress, restores every value written and exits 128+signal;
  - one run at a time: set and tune --apply share a lock in --state-dir.

Unlike tune, set asks no questions. Changes last until reboot; use tune
--persist to keep them.

--netns NAME|PATH writes inside that network namespace, per-netns keys only:
a global key (fs.*, vm.*, kernel.*, net.core.netdev_max_backlog), which has
one value for the whole host, is refused (exit 2) before anything is
written, and so is a --force key outside net.* or, when the namespace is the
host's own, any --force key (a global net.* key is visible there too). The
whole command runs there, so its record and tune --rollback belong to it;
SIGINT, SIGTERM and SIGHUP are passed on to it and set exits as it did.
--all-netns is refused (exit 2): a write names the one namespace it changes.`,
		Example: `  sudo backlogctl sysctl set somaxconn=8192
  sudo backlogctl sysctl set net.core.somaxconn=8192 net.ipv4.tcp_max_syn_backlog=8192
  sudo backlogctl sysctl set --force net.ipv4.ip_local_port_range="10000 65000"
  sudo backlogctl sysctl set --allow-lower somaxconn=1024
  sudo backlogctl sysctl set --netns blue somaxconn=8192
  sudo backlogctl tune --rollback --yes   # undo the last set`,
		Args: cmdutil.MinimumArgs(1, "KEY=VALUE"),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Roots, opts.Assignments = f.Roots, args
			if err := opts.Validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return setRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Force, "force", false, "allow keys outside backlogctl's registry (values are written as given)")
	cmdutil.AddAllowLowerFlag(cmd, &opts.AllowLower, cmdutil.AllowLowerHelp)
	cmd.Flags().BoolVar(&opts.ForceNew, "force-new", false, "start even though the last change is unresolved (its record is kept in the new one)")
	cmd.Flags().StringVar(&opts.StateDir, "state-dir", sysctl.DefaultStateDir, "`DIR` for the record of the last change and the lock, shared with tune")
	nsflag.AddForWrite(cmd, &opts.Namespaces)
	cmdutil.AddOutputFlag(cmd, opts.IO, &opts.Output, formats...)
	return cmd
}

// Validate parses every KEY=VALUE before anything is read or written.
func (o *SetOptions) Validate() error {
	if err := cmdutil.CheckOutput(o.Output, formats...); err != nil {
		return err
	}
	if len(o.Assignments) == 0 {
		return cmdutil.UsageErrorf("nothing to set: give KEY=VALUE")
	}
	o.settings = nil
	seen := map[string]bool{}
	for _, a := range o.Assignments {
		k, v, err := sysctl.ParseAssignment(a, o.Force)
		if err != nil {
			return keyError(err)
		}
		if seen[k.Name] {
			return cmdutil.UsageErrorf("%s is set twice", k.Name)
		}
		seen[k.Name] = true
		o.settings = append(o.settings, sysctl.Setting{Key: k.Name, Value: v})
	}
	if err := o.Namespaces.Validate(); err != nil {
		return err
	}
	return checkWriteNamespaces(o)
}

func setRun(o *SetOptions) error {
	if o.Namespaces.Netns != "" {
		return setIn(o)
	}
	return setHere(o)
}

// setHere writes where the calling thread is.
func setHere(o *SetOptions) error {
	if err := checkInside(o); err != nil {
		return err
	}
	lock, err := sysctl.AcquireLock(o.StateDir)
	if err != nil {
		return cmdutil.EnvError(err)
	}
	defer lock.Release()
	superseded, err := sysctl.CheckResolved(o.StateDir, o.ForceNew)
	if err != nil {
		return cmdutil.EnvError(err)
	}
	sys := sysctl.NewFS(o.Roots.Sys)
	netns, _ := sysctl.NetnsInode(o.Roots.Proc) // 0: unknown, rollback does not check
	if err := sysctl.CheckSupersede(superseded, netns, sys.Root()); err != nil {
		return cmdutil.EnvError(err)
	}
	txn, err := sys.Prepare(o.settings)
	if err != nil {
		if sysctl.IsBadInput(err) {
			return cmdutil.UsageErrorf("%v; nothing was changed", err)
		}
		return cmdutil.EnvError(fmt.Errorf("%w; nothing was changed", err))
	}
	if !o.AllowLower {
		var low []string
		for _, st := range txn.Steps {
			if sysctl.Lowers(st.Key, st.Previous, st.Value) {
				low = append(low, cmdutil.Lowered(st.Key, st.Previous, st.Value))
			}
		}
		if len(low) > 0 {
			return cmdutil.LoweringError(low)
		}
	}
	// From the record to the end, a termination signal waits for the write
	// in progress, then everything written is restored.
	guard := cmdutil.DeferSignals()
	defer guard.Stop()
	entry, err := sysctl.Begin(o.StateDir, sysctl.State{
		Time: time.Now().UTC(), Command: "sysctl set", SysRoot: sys.Root(), Netns: netns,
		Steps: txn.Steps, Superseded: superseded,
	})
	if err != nil {
		return cmdutil.EnvError(err)
	}
	txn.Interrupted = guard.Err
	if err := txn.Commit(); err != nil {
		return cmdutil.EnvError(entry.Fail(err)) // a signal exits 128+signal
	}
	if err := guard.Err(); err != nil {
		return cmdutil.EnvError(entry.Fail(sys.Undo(txn.Steps, err)))
	}
	if err := entry.Done(); err != nil {
		o.IO.Warn(fmt.Sprintf("could not mark the change as complete: %v", err))
	}
	vals := make([]Value, 0, len(o.settings))
	for _, s := range o.settings {
		vals = append(vals, Value{Key: s.Key, Value: s.Value})
	}
	return printValues(o.IO, o.Output, false, vals)
}
