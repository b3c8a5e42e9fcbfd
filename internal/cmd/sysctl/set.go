package sysctl

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nsflag"
	"github.com/backlogctl/backlogctl/sysctl"
)

// SetOptions are set's inputs; tests fill them and call setRun directly.
type SetOptions struct {
	IO          *iostreams.IOStreams
	SysRoot     string
	ProcRoot    string
	Namespaces  nsflag.Flags
	Assignments []string
	Force       bool
	StateDir    string
	Output      string

	settings []sysctl.Setting
}

// NewCmdSet returns `sysctl set`. runF replaces setRun in tests.
func NewCmdSet(f *cmdutil.Factory, runF func(*SetOptions) error) *cobra.Command {
	opts := &SetOptions{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use: "set KEY=VALUE...",
		ValidArgsFunction: func(c *cobra.Command, args []string, partial string) ([]string, cobra.ShellCompDirective) {
			keys, _ := cmdutil.CompleteSysctlKeys(c, args, partial)
			for i, k := range keys {
				name, desc, _ := strings.Cut(k, "\t")
				keys[i] = name + "=\t" + desc
			}
			return keys, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
		},
		Short: "Write tunables, validated and all or nothing",
		Long: `Write tunables, like sysctl -w, but safely:

  - every value is checked against the key's type and range (net.ipv4.tcp_syncookies
    is 0..255, net.core.somaxconn 0..2147483647, ...) and every key is read and
    opened for writing before the first write: bad input (exit 2), no
    permission or a read-only /proc/sys (exit 3) change nothing;
  - each value is read back after writing; if a write fails, every value
    already written is restored and set exits 3 naming the key and why;
  - one run at a time: set and tune --apply share a lock in --state-dir.

Unlike tune, set asks no questions, needs no --allow-lower and keeps no record
for --rollback: it does exactly what it is told, like sysctl(8). Changes last
until reboot; use tune --persist to keep them.

--netns NAME|PATH writes inside that network namespace (per-netns keys only:
a global key is refused, exit 2). --all-netns is refused (exit 2): a write
names the one namespace it changes.`,
		Example: `  sudo backlogctl sysctl set somaxconn=8192
  sudo backlogctl sysctl set net.core.somaxconn=8192 net.ipv4.tcp_max_syn_backlog=8192
  sudo backlogctl sysctl set --netns blue somaxconn=8192
  sudo backlogctl sysctl set --force net.ipv4.ip_local_port_range="10000 65000"`,
		Args: cmdutil.MinimumArgs(1, "KEY=VALUE"),
		RunE: func(c *cobra.Command, args []string) error {
			opts.SysRoot, opts.ProcRoot, opts.Assignments = f.SysRoot, f.ProcRoot, args
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
	cmd.Flags().StringVar(&opts.StateDir, "state-dir", sysctl.DefaultStateDir, "`DIR` holding the lock shared with tune --apply")
	nsflag.Add(cmd, &opts.Namespaces)
	cmdutil.AddOutputFlag(cmd, &opts.Output, formats...)
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
	lock, err := sysctl.AcquireLock(o.StateDir)
	if err != nil {
		return cmdutil.EnvError(err)
	}
	defer lock.Release()
	sys := sysctl.NewFS(o.SysRoot)
	txn, err := sys.Prepare(o.settings)
	if err != nil {
		if sysctl.IsBadInput(err) {
			return cmdutil.UsageErrorf("%v; nothing was changed", err)
		}
		return cmdutil.EnvError(fmt.Errorf("%w; nothing was changed", err))
	}
	if err := txn.Commit(); err != nil {
		return cmdutil.EnvError(err)
	}
	vals := make([]Value, 0, len(o.settings))
	for _, s := range o.settings {
		vals = append(vals, Value{Key: s.Key, Value: s.Value})
	}
	return printValues(o.IO, o.Output, false, vals)
}
