package collect

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/netns"
	"github.com/backlogctl/backlogctl/rlimit"
	"github.com/backlogctl/backlogctl/sysctl"
)

// Snapshot reads every namespace o names once: listeners (TCP and Unix,
// as o.Ports and o.Paths select),
// tunables, counters and descriptor accounting, and with OwnersOn the
// listeners' owners, found by one /proc walk for all of them that runs
// beside the dumps. With no namespace named it reads this one in place and
// labels it with its inode. Failing to dump the listeners of the one
// namespace asked for is an error; under --all-netns a namespace that fails
// is a note. Tracing and cached owners keep state between snapshots: they
// need a Collector.
func Snapshot(o Options) (*model.MultiSnapshot, error) {
	if o.Trace != TraceOff || o.Owners == OwnersCached || o.Owners == OwnersUnaccepted {
		return nil, errors.New("collect: tracing and cached owners need a Collector")
	}
	nss, notes, err := o.Namespaces.Resolve(o.Roots)
	if err != nil {
		return nil, err
	}
	return snapshot(o, nss, notes)
}

// snapshot reads nss (nil: here) as Snapshot does.
func snapshot(o Options, nss []model.Namespace, notes []string) (*model.MultiSnapshot, error) {
	roots := o.Roots.WithDefaults()
	var walk *inspect.OwnerWalk // beside the dumps
	var names *podNamer
	if o.Owners == OwnersOn {
		walk = inspect.StartOwnerWalk(roots.Proc, true)
		names = o.podNamer()
	}
	if nss == nil {
		cur, _ := netns.Current()
		sel, done := o.synWalks.plan(roots, cur.Inode, o.selection())
		snap, err := read(roots, sel, nil)
		if err != nil {
			stop(walk)
			return nil, err
		}
		done(snap.Listeners)
		if walk != nil {
			snap.Warnings = appendOwnerWarnings(snap.Warnings, walk, snap.Listeners, names)
		}
		return &model.MultiSnapshot{Time: snap.Time, Namespaces: []model.NamespaceSnapshot{{Netns: cur, Snapshot: snap}}}, nil
	}
	m := &model.MultiSnapshot{Time: time.Now().UTC(), Namespaces: []model.NamespaceSnapshot{}}
	snaps := make([]*model.Snapshot, len(nss))
	errs := each(nss, 1, func(i int, ns model.Namespace) error {
		sel, done := o.synWalks.plan(inside(roots), ns.Inode, o.selection())
		var err error
		if snaps[i], err = read(inside(roots), sel, nil); err == nil {
			done(snaps[i].Listeners)
		}
		return err
	})
	skips, err := skipped(o.Namespaces, nss, errs)
	if err != nil {
		stop(walk)
		return nil, err
	}
	for i, s := range snaps {
		if s != nil {
			m.Namespaces = append(m.Namespaces, model.NamespaceSnapshot{Netns: nss[i], Snapshot: s})
		}
	}
	if !o.Namespaces.All {
		// One namespace: it is the report, with its own time and warnings.
		snap := m.Namespaces[0].Snapshot
		if walk != nil {
			snap.Warnings = appendOwnerWarnings(snap.Warnings, walk, snap.Listeners, names)
		}
		m.Time = snap.Time
		return m, nil
	}
	m.Notes = skips
	if walk != nil {
		attachAll(walk, m, names)
	}
	m.Notes = append(notes, m.Notes...)
	return m, nil
}

// inside is roots as read on a thread inside another network namespace:
// counters from /proc/thread-self/net, since /proc/self/net follows the
// thread-group leader, not the thread (proc_tgid_net_lookup).
func inside(roots hostfs.Roots) hostfs.Roots {
	roots.Proc = filepath.Join(roots.Proc, "thread-self")
	return roots
}

func stop(walk *inspect.OwnerWalk) {
	if walk != nil {
		walk.Stop()
	}
}

// read takes one namespace's snapshot where the calling thread is: the
// listeners dumped with d (nil: a dumper opened for the call), the
// tunables, counters and descriptor accounting below roots. It returns an
// error only when the listeners could not be dumped; smaller gaps become
// Warnings.
func read(roots hostfs.Roots, sel inspect.Selection, d *inspect.Dumper) (*model.Snapshot, error) {
	snap := &model.Snapshot{Time: time.Now().UTC(), Warnings: []string{}}
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		snap.Kernel = unix.ByteSliceToString(uts.Release[:])
	}
	listeners, warning, err := inspect.SelectedListeners(d, sel)
	if err != nil {
		return nil, err
	}
	snap.Listeners = listeners
	if warning != "" {
		snap.Warnings = append(snap.Warnings, warning)
	}
	readHost(roots, snap)
	return snap, nil
}

// readHost fills the tunables, counters and descriptor accounting of snap.
func readHost(roots hostfs.Roots, snap *model.Snapshot) {
	sys := sysctl.NewFS(roots.Sys)
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
	counters, err := inspect.ReadCounters(roots.Proc)
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
