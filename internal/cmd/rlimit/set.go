package rlimit

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nsflag"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/rlimit"
	"github.com/backlogctl/backlogctl/sysctl"
)

// SetOptions are `rlimit set`'s inputs; tests fill them and call setRun.
type SetOptions struct {
	IO *iostreams.IOStreams
	// Roots are where the host is read from: the factory's.
	Roots hostfs.Roots
	// PID is 0 when --pid was not given.
	PID        int
	PIDGiven   bool
	Nofile     string
	Unit       string
	Write      bool
	AllowLower bool
	SystemdDir string
	Output     string
	// Namespaces are accepted for a uniform interface and refused: a
	// descriptor limit belongs to a process, not to a network namespace.
	Namespaces nsflag.Flags

	// Set changes a process's RLIMIT_NOFILE and verifies it; replaced in tests.
	Set func(roots hostfs.Roots, pid int, want model.Nofile) (model.Nofile, error)

	request rlimit.Request
	unit    string
}

// SetResult is what `rlimit set` did; -o json prints it.
type SetResult struct {
	PID int `json:"pid,omitempty"`
	// Previous and Nofile are the limits before and after (as read back).
	Previous *model.Nofile `json:"previous,omitempty"`
	Nofile   *model.Nofile `json:"nofile,omitempty"`
	// ProcessUnit is the systemd service the process runs in, if any.
	ProcessUnit string `json:"process_unit,omitempty"`
	Unit        string `json:"unit,omitempty"`
	DropIn      string `json:"drop_in,omitempty"`
	DropInPath  string `json:"drop_in_path,omitempty"`
	Written     bool   `json:"written"`
}

// NewCmdSet returns `rlimit set`. runF replaces setRun in tests.
func NewCmdSet(f *cmdutil.Factory, runF func(*SetOptions) error) *cobra.Command {
	opts := &SetOptions{IO: f.IOStreams, Set: rlimit.Set}
	cmd := &cobra.Command{
		Use:   "set [--pid PID] [--systemd-unit UNIT [--write]] --nofile SOFT[:HARD]",
		Short: "Change a running process's descriptor limit, or write a systemd drop-in for it",
		Long: `Change RLIMIT_NOFILE.

With --pid, the running process's limits are changed at once with prlimit(2)
and read back from /proc/PID/limits to verify; if they do not match, the
previous limits are restored. SOFT alone keeps the current hard limit. The
change lasts until the process restarts.

With --systemd-unit, the drop-in that makes the limit permanent is printed:

  [Service]
  LimitNOFILE=SOFT:HARD

(SOFT alone means SOFT:SOFT, as it does to systemd.) --write installs it
atomically as /etc/systemd/system/UNIT.d/90-backlogctl-nofile.conf; it takes
effect after 'systemctl daemon-reload' and a restart of the unit. A later
override.conf from 'systemctl edit' still wins. UNIT is a name like nginx or
nginx.service, never a path. 'backlogctl rlimit' shows each process's unit.

Give one of --pid and --systemd-unit, or both: then the process is changed
now and the drop-in keeps the same limits (SOFT alone keeps the process's
hard limit in both); if the drop-in cannot be written, the process's
previous limits are put back.

Refused before anything changes: a soft limit above the hard one, a hard
limit above fs.nr_open (the kernel refuses it even for root), a soft limit
below the descriptors the process has open (its next accept() would fail
with EMFILE; refused even with --allow-lower), and with --pid, a soft or
hard limit lower than the process's current one unless --allow-lower (the
rule tune and sysctl set follow). Raising a hard limit needs
CAP_SYS_RESOURCE; changing another user's process needs it too.

Exit status: 0 on success; 2 on bad input (malformed or refused values,
missing flags, a bad unit name); 3 when the process does not exist, the
change is not permitted, or the drop-in could not be written. Nothing is
changed on exit 2 or 3.`,
		Example: `  # raise nginx's soft limit now, keeping its hard limit
  backlogctl rlimit set --pid 4242 --nofile 65536

  # soft and hard
  backlogctl rlimit set --pid 4242 --nofile 65536:524288

  # print the drop-in for nginx.service, then install it
  backlogctl rlimit set --systemd-unit nginx --nofile 65536:65536
  backlogctl rlimit set --systemd-unit nginx --nofile 65536:65536 --write
  systemctl daemon-reload && systemctl restart nginx.service

  # both: change pid 4242 now and keep it for nginx.service
  backlogctl rlimit set --pid 4242 --systemd-unit nginx --nofile 65536 --write`,
		Args: noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Roots = f.Roots
			opts.PIDGiven = c.Flags().Changed("pid")
			if err := opts.Validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return setRun(opts)
		},
	}
	cmd.Flags().IntVar(&opts.PID, "pid", 0, "process `PID` whose limits to change now")
	cmd.Flags().StringVar(&opts.Nofile, "nofile", "", "new RLIMIT_NOFILE as `SOFT[:HARD]`")
	cmd.Flags().StringVar(&opts.Unit, "systemd-unit", "", "print the LimitNOFILE= drop-in for the service `UNIT`")
	cmd.Flags().BoolVar(&opts.Write, "write", false, "with --systemd-unit: install the drop-in under /etc/systemd/system/UNIT.d/")
	cmdutil.AddAllowLowerFlag(cmd, &opts.AllowLower, cmdutil.AllowLowerLimitHelp)
	cmd.Flags().StringVar(&opts.SystemdDir, "systemd-dir", rlimit.SystemdDir, "directory holding unit drop-ins (for tests)")
	_ = cmd.Flags().MarkHidden("systemd-dir")
	nsflag.Add(cmd, &opts.Namespaces)
	// Accepted to be refused, with a message that says why (a limit belongs
	// to a process, not a namespace), and left out of --help: a flag that
	// never works is not an option.
	cmd.Flags().Lookup("netns").Usage = "refused: a limit belongs to a process (find its pid with rlimit --netns `NAME`)"
	cmd.Flags().Lookup("all-netns").Usage = "refused: a limit belongs to a process (find its pid with rlimit --all-netns)"
	_ = cmd.Flags().MarkHidden("netns")
	_ = cmd.Flags().MarkHidden("all-netns")
	cmdutil.AddOutputFlag(cmd, opts.IO, &opts.Output, formats...)
	return cmd
}

// refuseNamespaces explains why rlimit set takes no namespace: it writes
// one process's limit (--pid) or one unit's drop-in, whatever namespace
// the process's sockets live in; `rlimit --all-netns` finds the pid.
func refuseNamespaces(f nsflag.Flags) error {
	switch {
	case f.All:
		return cmdutil.UsageErrorf("rlimit set writes one process's limit: --all-netns is refused (find the pid with 'backlogctl rlimit --all-netns', then give --pid)")
	case f.Netns != "":
		return cmdutil.UsageErrorf("rlimit set writes one process's limit, which no network namespace holds: --netns does not apply (find the pid with 'backlogctl rlimit --netns %s', then give --pid)", f.Netns)
	}
	return nil
}

// Validate checks the flags before anything is read or changed.
func (o *SetOptions) Validate() error {
	if err := cmdutil.CheckOutput(o.Output, formats...); err != nil {
		return err
	}
	if err := refuseNamespaces(o.Namespaces); err != nil {
		return err
	}
	if o.Nofile == "" {
		return cmdutil.UsageErrorf("rlimit set: --nofile SOFT[:HARD] is required")
	}
	req, err := rlimit.ParseRequest(o.Nofile)
	if err != nil {
		return cmdutil.UsageErrorf("invalid --nofile %q: %v", o.Nofile, err)
	}
	o.request = req
	if !o.PIDGiven && o.Unit == "" {
		return cmdutil.UsageErrorf("rlimit set: give --pid PID to change a running process, or --systemd-unit UNIT for a drop-in")
	}
	if o.PIDGiven {
		if err := checkPID(o.PID); err != nil {
			return err
		}
	}
	if o.Write && o.Unit == "" {
		return cmdutil.UsageErrorf("--write needs --systemd-unit UNIT: it installs that unit's drop-in")
	}
	if o.Unit != "" {
		if o.unit, err = rlimit.UnitName(o.Unit); err != nil {
			return cmdutil.UsageErrorf("invalid --systemd-unit: %v", err)
		}
	}
	if o.Write && o.SystemdDir == "" {
		return cmdutil.UsageErrorf("--systemd-dir is empty")
	}
	return nil
}

func setRun(o *SetOptions) error {
	var nrOpen int64
	if v, err := sysctl.NewFS(o.Roots.Sys).ReadInt("fs.nr_open"); err == nil {
		nrOpen = v
	} else if !errors.Is(err, fs.ErrNotExist) {
		return cmdutil.EnvError(err)
	}

	// Decide and check everything before changing anything.
	res := SetResult{}
	var target, current model.Nofile
	if o.PIDGiven {
		proc, err := rlimit.ReadProcess(o.Roots, o.PID)
		if err != nil {
			return cmdutil.EnvError(err)
		}
		current = proc.Nofile
		target = o.request.Resolve(current.Hard)
		if err := rlimit.Check(target, nrOpen); err != nil {
			return cmdutil.UsageErrorf("refusing --nofile %s for pid %d: %v", o.Nofile, o.PID, err)
		}
		res.PID, res.ProcessUnit = o.PID, proc.Unit
		if proc.OpenFDs != nil && uint64(*proc.OpenFDs) > target.Soft {
			return cmdutil.UsageErrorf("refusing --nofile %s for pid %d: it has %d descriptors open, more than the soft limit %d: its next accept() would fail with EMFILE (refused even with --allow-lower); nothing was changed",
				o.Nofile, o.PID, *proc.OpenFDs, target.Soft)
		}
		if low := lowered(o.PID, current, target); len(low) > 0 && !o.AllowLower {
			return cmdutil.LoweringError(low)
		}
	}
	persistent := o.request.Persistent()
	if o.PIDGiven {
		persistent = target
	}
	if o.unit != "" {
		if err := rlimit.Check(persistent, nrOpen); err != nil {
			return cmdutil.UsageErrorf("refusing --nofile %s for %s: %v", o.Nofile, o.unit, err)
		}
		res.Unit, res.DropIn = o.unit, rlimit.DropIn(persistent)
		res.DropInPath = rlimit.DropInPath(o.SystemdDir, o.unit)
	}

	if o.PIDGiven {
		prev, err := o.Set(o.Roots, o.PID, target)
		if err != nil {
			return cmdutil.EnvError(err)
		}
		res.Previous, res.Nofile = &prev, &target
	}
	if o.Write {
		if _, err := rlimit.WriteDropIn(o.SystemdDir, o.unit, persistent); err != nil {
			if res.Previous != nil {
				if _, rerr := o.Set(o.Roots, o.PID, *res.Previous); rerr != nil {
					return cmdutil.EnvError(fmt.Errorf("%w; restoring pid %d's previous limits also failed: %v", err, o.PID, rerr))
				}
				return cmdutil.EnvError(fmt.Errorf("%w (pid %d's previous limits were restored)", err, o.PID))
			}
			return cmdutil.EnvError(err)
		}
		res.Written = true
	}
	return renderSet(o, &res)
}

// lowered lists the limits target lowers, by the rule tune and sysctl set
// share: any value below the current one.
func lowered(pid int, current, target model.Nofile) []string {
	var out []string
	if target.Soft < current.Soft {
		out = append(out, cmdutil.Lowered(fmt.Sprintf("pid %d's soft limit", pid), model.FormatLimit(current.Soft), model.FormatLimit(target.Soft)))
	}
	if target.Hard < current.Hard {
		out = append(out, cmdutil.Lowered(fmt.Sprintf("pid %d's hard limit", pid), model.FormatLimit(current.Hard), model.FormatLimit(target.Hard)))
	}
	return out
}
