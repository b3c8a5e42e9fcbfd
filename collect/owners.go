package collect

import (
	"fmt"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/model"
)

// listenerInodes is the set of the listeners' socket inodes.
func listenerInodes(ls []model.Listener) *hostfs.InodeSet {
	inodes := make([]uint32, len(ls))
	for i, l := range ls {
		inodes[i] = l.Inode
	}
	return hostfs.NewInodeSet(inodes)
}

// attachProcesses finishes walk, the owner walk started for ls, and fills in
// each listener's owners and their descriptor limits, the container and
// pod each runs in (with names, when names is not nil), and the backlog
// their configuration asks for where backlogctl can read it.
func attachProcesses(roots hostfs.Roots, walk *inspect.OwnerWalk, ls []model.Listener, names *podNamer) (string, error) {
	want := listenerInodes(ls)
	if want.Len() == 0 {
		walk.Stop()
		return "", nil
	}
	scan, err := walk.Finish(want)
	if err != nil {
		return "", err
	}
	procs := map[int]model.Process{}
	// Every listener's Processes is carved from one array.
	total := 0
	for i := range ls {
		total += len(scan.Owners[ls[i].Inode])
	}
	backing := make([]model.Process, 0, total)
	for i := range ls {
		owners := scan.Owners[ls[i].Inode]
		if len(owners) == 0 {
			continue
		}
		start := len(backing)
		for _, pid := range owners {
			p, ok := procs[pid]
			if !ok {
				p = model.Process{PID: pid, OpenFDs: scan.FDCount[pid], FDsAboveLimit: scan.FDAbove[pid]}
				p.Comm, _ = roots.Comm(pid)
				p.Cmdline, _ = roots.Cmdline(pid)
				if n, ok := scan.Nofile[pid]; ok {
					p.NofileSoft, p.NofileHard = n.Soft, n.Hard
				}
				p.Workload, _ = names.workload(pid)
				procs[pid] = p
			}
			backing = append(backing, p)
		}
		ls[i].Processes = backing[start:len(backing):len(backing)]
	}
	// What the owners' own configuration asks listen() for, and how many
	// connections it holds at most, now that they are known.
	inspect.ReadProgramConfs(roots, ls)
	var warn string
	if scan.Unreadable > 0 {
		warn = inspect.UnreadableNote(scan.Unreadable)
	}
	return warn, nil
}

// appendOwnerWarnings finishes walk for ls (naming the owners' pods with
// names, if not nil) and appends what it could not read to warnings.
func appendOwnerWarnings(warnings []string, walk *inspect.OwnerWalk, ls []model.Listener, names *podNamer) []string {
	warn, err := attachProcesses(walk.Roots(), walk, ls, names)
	if err != nil {
		warnings = append(warnings, fmt.Sprintf("process attribution: %v", err))
	}
	if warn != "" {
		warnings = append(warnings, warn)
	}
	return append(warnings, names.take()...)
}

// attachAll finishes walk for every namespace's listeners: one scan, whose
// gaps are notes of the whole report.
func attachAll(walk *inspect.OwnerWalk, m *model.MultiSnapshot, names *podNamer) {
	var all []model.Listener
	for _, ns := range m.Namespaces {
		all = append(all, ns.Listeners...)
	}
	m.Notes = appendOwnerWarnings(m.Notes, walk, all, names)
	i := 0
	for _, ns := range m.Namespaces {
		for j := range ns.Listeners {
			ns.Listeners[j].Processes = all[i].Processes
			ns.Listeners[j].ConfiguredBacklog = all[i].ConfiguredBacklog
			i++
		}
	}
}

// findOwners fills each listener's Processes with the pids holding it (PID
// only: nothing else of the process is read), from one /proc/*/fd walk, for
// a caller that reads the owners itself (rlimit), so each process is read
// once. The warning names the processes whose descriptors could not be read.
func findOwners(roots hostfs.Roots, ls []model.Listener) (string, error) {
	scan, err := inspect.ScanOwners(roots.WithDefaults().Proc, listenerInodes(ls), false)
	if err != nil {
		return "", err
	}
	for i := range ls {
		ls[i].Processes = []model.Process{}
		for _, pid := range scan.Owners[ls[i].Inode] {
			ls[i].Processes = append(ls[i].Processes, model.Process{PID: pid})
		}
	}
	if scan.Unreadable > 0 {
		return inspect.UnreadableNote(scan.Unreadable), nil
	}
	return "", nil
}

// ownerFacts adds what the judges need about each owner beyond the walk,
// read once per process: its state and start time (/proc/PID/stat) and
// whether it is a Go program (its net.Listen asks for somaxconn).
func ownerFacts(roots hostfs.Roots, snap *model.Snapshot) {
	seen := map[int]model.Process{}
	for i := range snap.Listeners {
		ps := snap.Listeners[i].Processes
		for j := range ps {
			f, ok := seen[ps[j].PID]
			if !ok {
				if st, err := roots.Stat(ps[j].PID); err == nil {
					f.State, f.StartTime = st.State, st.StartTime
				}
				f.GoVersion = roots.GoVersion(ps[j].PID)
				seen[ps[j].PID] = f
			}
			ps[j].State, ps[j].StartTime, ps[j].GoVersion = f.State, f.StartTime, f.GoVersion
		}
	}
}

// units finds the systemd unit of every listener owner, where it has one.
func units(roots hostfs.Roots, snap *model.Snapshot) map[int]string {
	out := map[int]string{}
	for _, l := range snap.Listeners {
		for _, p := range l.Processes {
			if _, done := out[p.PID]; done {
				continue
			}
			unit, _ := roots.Unit(p.PID)
			out[p.PID] = unit
		}
	}
	return out
}
