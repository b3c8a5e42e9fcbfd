package collect

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
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/rlimit"
	"github.com/backlogctl/backlogctl/sysctl"
)

// ListenersError is a failure to list the listeners whose owners Limits
// reports.
type ListenersError struct{ Err error }

func (e *ListenersError) Error() string {
	return fmt.Sprintf("finding the processes that own listeners: %v", e.Err)
}

func (e *ListenersError) Unwrap() error { return e.Err }

// Limits reads the descriptor limits and usage of pids, or, when none is
// given, of every process that owns a listener in the namespaces o names
// (found by one /proc/*/fd walk on the host, since socket inodes are unique
// host-wide), with the ports each listens on and, with o.Pods, the
// container and pod each runs in. With a namespace named, a
// process has a row per namespace it listens in, labelled. Smaller gaps
// become warnings; a namespace under --all-netns that cannot be read is one.
func Limits(o Options, pids []int) (*model.LimitsReport, error) {
	return limits(o, pids, limitListeners)
}

// listenersFunc lists the listeners whose owners Limits reads (with their
// namespaces' labels, by index, when namespaces are named); with owners,
// the pids holding them too.
type listenersFunc func(o Options, owners bool) (ls []model.Listener, labels []string, warnings []string, err error)

// limits is Limits with the listeners from list.
func limits(o Options, pids []int, list listenersFunc) (*model.LimitsReport, error) {
	roots := o.Roots.WithDefaults()
	rep := &model.LimitsReport{Processes: []model.ProcessLimits{}}
	if nr, err := sysctl.NewFS(roots.Sys).ReadInt("fs.nr_open"); err == nil {
		rep.NrOpen = &nr
	} else if !errors.Is(err, fs.ErrNotExist) {
		rep.Warnings = append(rep.Warnings, err.Error())
	}
	owners := len(pids) == 0
	ls, labels, warnings, err := list(o, owners)
	var nserr *NamespaceError
	if errors.As(err, &nserr) {
		return nil, err
	}
	if err != nil {
		if owners {
			return nil, &ListenersError{Err: err}
		}
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("could not list listeners, ports not shown: %v", err))
	}
	rep.Warnings = append(rep.Warnings, warnings...)
	if owners {
		pids = ownerPIDs(ls)
	} else {
		pids = uniquePIDs(pids)
	}
	var unreadable []string
	names := o.podNamer()
	for _, pid := range pids {
		p, err := rlimit.ReadProcess(roots, pid)
		var gone *rlimit.NoProcessError
		if owners && (errors.As(err, &gone) || err != nil && exited(roots.Proc, pid)) {
			continue // exited since the dump (or while its files were read)
		}
		if err != nil {
			return nil, err
		}
		if p.OpenFDs == nil {
			unreadable = append(unreadable, strconv.Itoa(pid))
		}
		p.Workload, _ = names.workload(pid)
		rep.Processes = append(rep.Processes, rows(p, ls, labels)...)
	}
	rep.Warnings = append(rep.Warnings, names.take()...)
	if len(unreadable) > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf(
			"could not count the open descriptors of pid %s (/proc/PID/fd needs root or the same user)", strings.Join(unreadable, ",")))
	}
	return rep, nil
}

// limitListeners dumps the listeners here, or in each namespace o names
// (labels then gives each listener's namespace label, by index); with
// owners, the pids holding them too, from one /proc/*/fd walk (nothing else
// of the owners is read: Limits reads each once).
func limitListeners(o Options, owners bool) (ls []model.Listener, labels []string, warnings []string, err error) {
	nss, notes, err := o.Namespaces.Resolve(o.Roots)
	if err != nil {
		return nil, nil, nil, err
	}
	warnings = notes
	if nss == nil {
		var warn string
		if ls, warn, err = inspect.SelectedListeners(nil, o.selection()); err != nil {
			return nil, nil, nil, err
		}
		if warn != "" {
			warnings = append(warnings, warn)
		}
	} else {
		found := make([][]model.Listener, len(nss))
		errs := each(nss, 1, func(i int, _ model.Namespace) error {
			var err error
			found[i], _, err = inspect.SelectedListeners(nil, o.selection())
			return err
		})
		skips, err := skipped(o.Namespaces, nss, errs)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("--netns %s: %w", o.Namespaces.Netns, err)
		}
		warnings = append(warnings, skips...)
		for i, f := range found {
			ls = append(ls, f...)
			for range f {
				labels = append(labels, nss[i].Label())
			}
		}
	}
	if owners {
		warn, err := findOwners(o.Roots, ls)
		if err != nil {
			return nil, nil, nil, err
		}
		if warn != "" {
			warnings = append(warnings, warn)
		}
	}
	return ls, labels, warnings, nil
}

// rows is p as the report shows it: with the ports of the listeners it
// holds among ls; when ls are labelled by namespace, one row per namespace
// it listens in (a process holding no listener there keeps one, unlabelled).
func rows(p model.ProcessLimits, ls []model.Listener, labels []string) []model.ProcessLimits {
	held := map[uint32]bool{}
	for _, ino := range p.SocketInodes {
		held[ino] = true
	}
	var order []string
	ports := map[string][]uint16{}
	paths := map[string][]string{}
	for i, l := range ls {
		if !held[l.Inode] {
			continue
		}
		label := ""
		if labels != nil {
			label = labels[i]
		}
		if _, ok := ports[label]; !ok {
			order = append(order, label)
			ports[label] = []uint16{}
		}
		switch {
		case l.IsUnix():
			if !slices.Contains(paths[label], l.Path) {
				paths[label] = append(paths[label], l.Path)
			}
		case !slices.Contains(ports[label], l.Port):
			ports[label] = append(ports[label], l.Port)
		}
	}
	if len(order) == 0 {
		p.Ports = []uint16{}
		return []model.ProcessLimits{p}
	}
	out := make([]model.ProcessLimits, 0, len(order))
	for _, label := range order {
		row := p
		row.Netns = label
		row.Ports, row.Paths = ports[label], paths[label]
		slices.Sort(row.Ports)
		slices.Sort(row.Paths)
		out = append(out, row)
	}
	return out
}

// exited reports whether pid's /proc directory is gone: a process that exits
// while its limits are read leaves an empty file, not ENOENT.
func exited(procRoot string, pid int) bool {
	_, err := os.Stat(filepath.Join(procRoot, strconv.Itoa(pid)))
	return errors.Is(err, fs.ErrNotExist)
}

// ownerPIDs lists every process holding one of the listeners, once, ascending.
func ownerPIDs(ls []model.Listener) []int {
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
