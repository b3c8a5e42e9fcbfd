package rlimit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/netns"
	"github.com/backlogctl/backlogctl/rlimit"
	"github.com/backlogctl/backlogctl/sysctl"
)

// gather builds the report: the processes asked for (or every listener's
// owner), their limits and usage, and the ports they listen on.
func gather(o *Options) (*rlimit.Report, error) {
	rep := &rlimit.Report{Processes: []rlimit.Process{}}
	if nr, err := sysctl.NewFS(o.Roots.Sys).ReadInt("fs.nr_open"); err == nil {
		rep.NrOpen = &nr
	} else if !errors.Is(err, fs.ErrNotExist) {
		rep.Warnings = append(rep.Warnings, err.Error())
	}

	owners := len(o.PIDs) == 0
	ls, warnings, err := o.listeners(inspect.Options{Roots: o.Roots, Processes: owners})
	var exit *cmdutil.ExitError // a namespace flag that names nothing
	if errors.As(err, &exit) {
		return nil, err
	}
	if err != nil {
		if owners {
			return nil, cmdutil.EnvError(fmt.Errorf("finding the processes that own listeners: %w", err))
		}
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("could not list listeners, ports not shown: %v", err))
	}
	rep.Warnings = append(rep.Warnings, warnings...)

	pids := uniquePIDs(o.PIDs)
	if owners {
		pids = ownerPIDs(ls)
	}
	listenerPorts := make(map[uint32]uint16, len(ls))
	for _, l := range ls {
		listenerPorts[l.Inode] = l.Port
	}
	var unreadable []string
	for _, pid := range pids {
		p, err := rlimit.ReadProcess(o.Roots, pid)
		var gone *rlimit.NoProcessError
		if owners && (errors.As(err, &gone) || err != nil && exited(o.Roots.Proc, pid)) {
			continue // exited since the dump (or while its files were read)
		}
		if err != nil {
			return nil, cmdutil.EnvError(err)
		}
		if p.OpenFDs == nil {
			unreadable = append(unreadable, strconv.Itoa(pid))
		}
		p.AttachPorts(listenerPorts)
		rep.Processes = append(rep.Processes, p)
	}
	if len(unreadable) > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf(
			"could not count the open descriptors of pid %s (/proc/PID/fd needs root or the same user)", strings.Join(unreadable, ",")))
	}
	return rep, nil
}

// exited reports whether pid's /proc directory is gone: a process that exits
// while its limits are read leaves an empty file, not ENOENT.
func exited(procRoot string, pid int) bool {
	_, err := os.Stat(filepath.Join(procRoot, strconv.Itoa(pid)))
	return errors.Is(err, fs.ErrNotExist)
}

// ownerPIDs lists every process holding one of the listeners, once, ascending.
func ownerPIDs(ls []inspect.Listener) []int {
	var pids []int
	for _, l := range ls {
		for _, p := range l.Processes {
			pids = append(pids, p.PID)
		}
	}
	return uniquePIDs(pids)
}

func uniquePIDs(pids []int) []int {
	out := slices.Clone(pids)
	slices.Sort(out)
	return slices.Compact(out)
}

// listeners dumps the listeners here, or in the namespaces --netns or
// --all-netns name (through the one fan-out, netns.Each); owners are then
// found by one /proc/*/fd walk on the host, since socket inodes are unique
// host-wide. Under --all-netns a namespace that cannot be read is a warning.
func (o *Options) listeners(opts inspect.Options) ([]inspect.Listener, []string, error) {
	if !o.Namespaces.Set() {
		return o.Listeners(opts)
	}
	nss, warnings, err := o.Namespaces.Namespaces(o.Roots)
	if err != nil {
		return nil, nil, err
	}
	inner := opts
	inner.Processes = false
	var all []inspect.Listener
	notes := netns.Each(nss, func(ns netns.Namespace) error {
		return netns.Do(ns.Path, func() error {
			ls, w, err := o.Listeners(inner)
			all, warnings = append(all, ls...), append(warnings, w...)
			return err
		})
	})
	if !o.Namespaces.All && len(notes) > 0 {
		return nil, nil, fmt.Errorf("--netns %s: %s", o.Namespaces.Netns, strings.TrimPrefix(notes[0], "skipped "))
	}
	warnings = append(warnings, notes...)
	if opts.Processes {
		warn, err := inspect.FindOwners(o.Roots, all)
		if err != nil {
			return nil, nil, err
		}
		if warn != "" {
			warnings = append(warnings, warn)
		}
	}
	return all, warnings, nil
}

// dumpListeners reads the listeners through sock_diag; with opts.Processes,
// the pids holding them too, from one /proc/*/fd walk (nothing else of the
// owners is read here: gather reads each once).
func dumpListeners(opts inspect.Options) ([]inspect.Listener, []string, error) {
	ls, err := inspect.Listeners(opts)
	if err != nil || !opts.Processes {
		return ls, nil, err
	}
	warn, err := inspect.FindOwners(opts.Roots, ls)
	if err != nil {
		return nil, nil, err
	}
	if warn != "" {
		return ls, []string{warn}, nil
	}
	return ls, nil, nil
}
