package inspect

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/rlimit"
	"github.com/backlogctl/backlogctl/sysctl"
)

// Snapshot is everything inspect reports, at one moment.
type Snapshot = model.Snapshot

// Options says what to gather and where from.
type Options struct {
	// Roots are where /proc and /proc/sys are read ("" parts: the host's).
	Roots hostfs.Roots
	// Ports, when not empty, keeps only listeners on these ports.
	Ports []uint16
	// Paths, when not empty, keeps only Unix listeners whose path (or
	// "@abstract" name) matches one: exact, or a path.Match pattern.
	Paths []string
	// Processes turns on the /proc/*/fd scan that finds each listener's owners.
	Processes bool
	// Dumper, when set, is used for the sock_diag dump (and decides its
	// network namespace); otherwise one is opened for the call.
	Dumper *Dumper
}

// Gather takes a snapshot. It returns an error only when the listeners could
// not be dumped; smaller gaps become Warnings.
func Gather(opts Options) (*Snapshot, error) {
	opts.Roots = opts.Roots.WithDefaults()
	snap := &Snapshot{Time: time.Now().UTC(), Warnings: []string{}}
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		snap.Kernel = unix.ByteSliceToString(uts.Release[:])
	}

	// The owner walk starts first and runs beside the dump; it learns which
	// sockets to look for when the dump is done.
	var walk *ownerWalk
	if opts.Processes {
		walk = startOwnerWalk(opts.Roots.Proc, true)
	}
	listeners, err := Listeners(opts)
	if err != nil {
		if walk != nil {
			walk.stop()
		}
		return nil, err
	}
	snap.Listeners = listeners

	sys := sysctl.NewFS(opts.Roots.Sys)
	vals, errs := sys.Values()
	snap.Sysctls = vals
	if len(errs) > 0 {
		snap.SysctlErrors = errs
	}
	for _, k := range sysctl.Registry { // registry order: stable output
		if err, ok := errs[k.Name]; ok {
			snap.Warnings = append(snap.Warnings, keyWarning(k.Name, err))
		}
	}

	counters, err := ReadCounters(opts.Roots.Proc)
	if err != nil {
		snap.Warnings = append(snap.Warnings, err.Error())
		counters = map[string]uint64{}
	}
	snap.Counters = counters

	if files, err := rlimit.ReadFiles(sys); err == nil {
		snap.Files = &files
	} else if !errors.Is(err, fs.ErrNotExist) {
		snap.Warnings = append(snap.Warnings, err.Error())
	}

	if walk != nil {
		snap.Warnings = appendOwnerWarnings(snap.Warnings, walk, snap.Listeners)
	}
	return snap, nil
}

// Listeners dumps the listening sockets of both families, with their SYN-queue
// counts, filtered by opts.Ports.
func Listeners(opts Options) ([]Listener, error) {
	d := opts.Dumper
	if d == nil {
		var err error
		if d, err = NewDumper(); err != nil {
			return nil, err
		}
		defer d.Close()
	}
	set := &listenerSet{}
	if len(opts.Ports) > 0 {
		set.ports = map[uint16]bool{}
		for _, p := range opts.Ports {
			set.ports[p] = true
		}
	}
	states := uint32(1<<stateListen | 1<<stateSynRecv)
	// One request for both families: the kernel walks the listening and
	// established tables once (inet_diag_dump_icsk).
	if err := d.DumpAll(states, set.add, set.reset); err != nil {
		return nil, fmt.Errorf("dumping listeners: %w", err)
	}
	return set.finish(), nil
}

// listenerInodes is the set of the listeners' socket inodes.
func listenerInodes(ls []Listener) *hostfs.InodeSet {
	inodes := make([]uint32, len(ls))
	for i, l := range ls {
		inodes[i] = l.Inode
	}
	return hostfs.NewInodeSet(inodes)
}

// attachProcesses finishes walk, the owner walk started for ls, and fills in
// each listener's owners and their descriptor limits.
func attachProcesses(walk *ownerWalk, ls []Listener) (string, error) {
	want := listenerInodes(ls)
	if want.Len() == 0 {
		walk.stop()
		return "", nil
	}
	scan, err := walk.finish(want)
	if err != nil {
		return "", err
	}
	pfs, err := procfs.NewFS(walk.procRoot)
	if err != nil {
		return "", err
	}
	procs := map[int]Process{}
	// Every listener's Processes is carved from one array.
	total := 0
	for i := range ls {
		total += len(scan.owners[ls[i].Inode])
	}
	backing := make([]Process, 0, total)
	for i := range ls {
		owners := scan.owners[ls[i].Inode]
		if len(owners) == 0 {
			continue
		}
		start := len(backing)
		for _, pid := range owners {
			p, ok := procs[pid]
			if !ok {
				p = Process{PID: pid, OpenFDs: scan.fdCount[pid], FDsAboveLimit: scan.fdAbove[pid]}
				p.Comm, p.Cmdline = processNames(pfs, pid)
				if n, ok := scan.nofile[pid]; ok {
					p.NofileSoft, p.NofileHard = n.Soft, n.Hard
				}
				procs[pid] = p
			}
			backing = append(backing, p)
		}
		ls[i].Processes = backing[start:len(backing):len(backing)]
	}
	var warn string
	if scan.unreadable > 0 {
		warn = unreadableNote(scan.unreadable)
	}
	return warn, nil
}

// keyWarning says why a tunable could not be read, naming it once: the
// *PathError's file name and sysctl's own "reading KEY: " prefix are dropped.
func keyWarning(name string, err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Sprintf("could not read %s: %v", name, pe.Err)
	}
	return fmt.Sprintf("could not read %s: %s", name, strings.TrimPrefix(err.Error(), "reading "+name+": "))
}
