package collect

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"time"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/netns"
	"github.com/backlogctl/backlogctl/rlimit"
	"github.com/backlogctl/backlogctl/sysctl"
)

// ObserveOptions shape what check observes beside Options.
type ObserveOptions struct {
	// Window, when set, watches for this long (--observe): counters are
	// judged by their increase, queues by their peak, sampled every
	// Interval. Without it, one moment is observed.
	Window   time.Duration
	Interval time.Duration
	// TraceInterval is how often a traced window (Options.Trace) reads the
	// evidence; at least Interval.
	TraceInterval time.Duration
	// Started, when set, is called once every window's baseline is taken
	// (and the programs attached): what happens from then on is seen.
	Started func()
}

// Observed is one namespace's observation.
type Observed struct {
	// Netns is the namespace, when one was named; Inode its inode (also
	// when none was: the namespace read in place).
	Netns *model.Namespace
	Inode uint64
	*model.Observation
}

// Observe takes check's observations: one, here, when no namespace is
// named; one per namespace otherwise (read inside each, windows all at the
// same time). Tracing (Options.Trace, with a Window) traces the window
// beside the sampling; where the kernel refuses, each observation says why
// and a note says so once. A namespace that cannot be read is a note under
// --all-netns, an error otherwise.
func Observe(ctx context.Context, o Options, w ObserveOptions) ([]Observed, []string, error) {
	nss, notes, err := o.Namespaces.Resolve(o.Roots)
	if err != nil {
		return nil, nil, err
	}
	if w.Window == 0 || o.Trace == TraceOff {
		got, more, err := observeSampled(ctx, o, nss, w)
		return got, append(notes, more...), err
	}
	tw := startTraceWindow(ctx, o, nss, w)
	sampled := w
	sampled.Started = nil // the trace's Ready reports the start
	got, more, err := observeSampled(ctx, o, nss, sampled)
	window, terr := tw.wait()
	if err != nil {
		return nil, nil, err
	}
	notes = append(notes, more...)
	if terr != nil {
		notes = append(notes, fmt.Sprintf("eBPF tracing unavailable (%v): judging the sampled subjects only", terr))
		for _, g := range got {
			g.Trace = &model.TraceStatus{Error: terr.Error()}
		}
		return got, notes, nil
	}
	for _, g := range got {
		attachTrace(g.Observation, g.Inode, window, o.stall())
	}
	return got, notes, nil
}

// observeSampled takes the observations by sock_diag and /proc alone.
func observeSampled(ctx context.Context, o Options, nss []model.Namespace, w ObserveOptions) ([]Observed, []string, error) {
	processes := o.Owners != OwnersOff
	if nss == nil {
		cur, _ := netns.Current()
		var obs *model.Observation
		if w.Window == 0 {
			obs = observePoint(o.Roots, o.selection(), processes, nil)
		} else {
			var err error
			if obs, err = observeWindow(ctx, o.Roots, o.selection(), processes, w); err != nil {
				return nil, nil, fmt.Errorf("observing: %w", err)
			}
		}
		return []Observed{{Inode: cur.Inode, Observation: obs}}, nil, nil
	}
	// Snapshots a few at a time; windows all at once, to overlap.
	parallel := runtime.GOMAXPROCS(0)
	if w.Window > 0 {
		parallel = 0
	}
	inner := inside(o.Roots.WithDefaults())
	obs := make([]*model.Observation, len(nss))
	errs := each(nss, parallel, func(i int, _ model.Namespace) error {
		if w.Window == 0 {
			obs[i] = observePoint(inner, o.selection(), false, nil)
			return nil
		}
		var err error
		obs[i], err = observeWindow(ctx, inner, o.selection(), false, w)
		return err
	})
	var got []Observed
	var notes []string
	for i, ns := range nss {
		if errs[i] != nil {
			if !o.Namespaces.All {
				// The one namespace asked for could not be read.
				return nil, nil, fmt.Errorf("--netns %s: %w", o.Namespaces.Netns, errs[i])
			}
			notes = append(notes, netns.SkipNote(ns, errs[i]))
			continue
		}
		got = append(got, Observed{Netns: &nss[i], Inode: ns.Inode, Observation: obs[i]})
	}
	if len(got) == 0 {
		return nil, nil, fmt.Errorf("no network namespace could be read (%d skipped)", len(nss))
	}
	if processes {
		notes = append(notes, attachOwners(o.Roots, got)...)
	}
	return got, notes, nil
}

// attachOwners finds the owners of every namespace's listeners in one scan
// and copies them onto the judged listeners, matched by socket inode (after
// a window they are the window's, not the last snapshot's).
func attachOwners(roots hostfs.Roots, got []Observed) []string {
	var all []model.Listener
	for _, g := range got {
		if g.Snapshot != nil {
			all = append(all, g.Snapshot.Listeners...)
		}
	}
	warnings := appendOwnerWarnings(nil, inspect.StartOwnerWalk(roots.WithDefaults().Proc, true), all, nil)
	owners := make(map[uint32][]model.Process, len(all))
	for _, l := range all {
		owners[l.Inode] = l.Processes
	}
	for _, g := range got {
		if g.Snapshot == nil {
			continue // listeners could not be dumped: process.* says so
		}
		g.ProcessesScanned = true
		for i := range g.Listeners {
			g.Listeners[i].Processes = owners[g.Listeners[i].Inode]
		}
		for i := range g.Snapshot.Listeners {
			g.Snapshot.Listeners[i].Processes = owners[g.Snapshot.Listeners[i].Inode]
		}
	}
	return warnings
}

// observePoint takes a point-in-time observation where the calling thread
// is. It does not fail: what could not be read is recorded (ListenersError,
// SysctlErrors, Warnings) and the requirements that need it are reported as
// not evaluated. The tunables are read once: their per-key errors come with
// the snapshot.
func observePoint(roots hostfs.Roots, sel inspect.Selection, processes bool, d *inspect.Dumper) *model.Observation {
	roots = roots.WithDefaults()
	var walk *inspect.OwnerWalk
	if processes {
		walk = inspect.StartOwnerWalk(roots.Proc, true)
	}
	snap, err := read(roots, sel, d)
	if err == nil {
		if walk != nil {
			snap.Warnings = appendOwnerWarnings(snap.Warnings, walk, snap.Listeners, nil)
		}
		obs := model.ObservationOf(snap)
		obs.ProcessesScanned = processes
		obs.Ports, obs.Paths = sel.Ports, sel.Paths
		var known bool
		obs.ChildNetns, known = childNetns(roots, snap.Sysctls)
		obs.NetnsUnknown = !known
		return obs
	}
	stop(walk)
	// The listeners could not be dumped (netlink denied): the rest still counts.
	sys := sysctl.NewFS(roots.Sys)
	vals, sysErrs := sys.Values()
	obs := model.ObservationOf(&model.Snapshot{Sysctls: vals, SysctlErrors: sysErrs})
	obs.Snapshot = nil
	obs.ListenersError = err.Error()
	obs.Ports, obs.Paths = sel.Ports, sel.Paths
	if obs.Counters, err = inspect.ReadCounters(roots.Proc); err != nil {
		obs.Counters = map[string]uint64{}
		obs.Warnings = append(obs.Warnings, err.Error())
	}
	if files, err := rlimit.ReadFiles(sys); err == nil {
		obs.Files = &files
	} else if !errors.Is(err, fs.ErrNotExist) {
		obs.Warnings = append(obs.Warnings, err.Error())
	}
	return obs
}

// observeWindow watches the window where the calling thread is: counters
// are read at its start and end and judged by their increase; listeners are
// dumped every Interval on one sock_diag socket and folded by a
// model.Window (peaks, drop increases). Tunables, descriptor accounting and,
// if asked, listener owners are read once, at the end: /proc is never
// scanned per sample. ctx ends the window early (the observation then
// covers the shorter window).
func observeWindow(ctx context.Context, roots hostfs.Roots, sel inspect.Selection, processes bool, w ObserveOptions) (*model.Observation, error) {
	if w.Interval <= 0 {
		return nil, fmt.Errorf("sample interval must be positive, got %v", w.Interval)
	}
	roots = roots.WithDefaults()
	d, err := inspect.NewDumper()
	if err != nil {
		return nil, err
	}
	defer d.Close()
	startCounters, err := inspect.ReadCounters(roots.Proc)
	if err != nil {
		return nil, fmt.Errorf("reading the counters at the start of the window: %w", err)
	}
	var win model.Window
	var listenersErr error
	sample := func() {
		if listenersErr != nil {
			return
		}
		ls, _, err := inspect.SelectedListeners(d, sel)
		if err != nil {
			listenersErr = err
			return
		}
		win.AddListeners(ls)
	}
	begin := time.Now()
	sample()
	if w.Started != nil {
		w.Started()
	}
	deadline := time.NewTimer(w.Window)
	defer deadline.Stop()
	tick := time.NewTicker(w.Interval)
	defer tick.Stop()
wait:
	for {
		select {
		case <-tick.C:
			sample()
		case <-deadline.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	end := observePoint(roots, sel, processes, d)
	if end.ListenersError == "" && listenersErr == nil {
		// The last dump is the last sample, and carries the owners.
		win.AddListeners(end.Snapshot.Listeners)
	}
	if listenersErr != nil {
		end.ListenersError = fmt.Sprintf("sampling listeners: %v", listenersErr)
	}
	if end.ListenersError == "" {
		end.Listeners = model.WindowListeners(&win)
	}
	end.Counters = model.CounterDeltas(startCounters, end.Counters)
	end.Window = &model.WindowInfo{Duration: time.Since(begin).Round(time.Millisecond), Interval: w.Interval, Samples: win.Samples}
	return end, nil
}

// tracing is a traced window running beside the sampled ones.
type tracing struct {
	done   chan struct{}
	window *model.MultiSnapshot
	err    error
}

// startTraceWindow attaches the programs and starts the traced window,
// returning once what happens next is seen (or tracing failed).
func startTraceWindow(ctx context.Context, o Options, nss []model.Namespace, w ObserveOptions) *tracing {
	t := &tracing{done: make(chan struct{})}
	ready := make(chan struct{})
	tw := TracedWindow{Duration: w.Window, Interval: max(w.Interval, w.TraceInterval), Ready: func() { close(ready) }}
	go func() {
		defer close(t.done)
		t.window, t.err = traceWindow(ctx, o, nss, tw)
	}()
	select {
	case <-ready:
	case <-t.done:
	}
	if w.Started != nil {
		w.Started()
	}
	return t
}

func (t *tracing) wait() (*model.MultiSnapshot, error) {
	<-t.done
	return t.window, t.err
}

// attachTrace joins the window's evidence to obs's listeners, by endpoint
// within namespace inode (an SO_REUSEPORT group's sockets all), and names
// the owners and accept() errors seen there.
func attachTrace(obs *model.Observation, inode uint64, window *model.MultiSnapshot, stall time.Duration) {
	st := &model.TraceStatus{Traced: true, Stall: stall}
	seen := map[int]bool{}
	byEndpoint := map[string][]model.Listener{}
	for _, ns := range window.Namespaces {
		if ns.Netns.Inode != inode {
			continue
		}
		for _, l := range ns.Listeners {
			if l.Traced == nil {
				continue
			}
			byEndpoint[l.Endpoint()] = append(byEndpoint[l.Endpoint()], l)
			for _, p := range l.Traced.Owners {
				if !seen[p.PID] {
					seen[p.PID] = true
					st.Owners = append(st.Owners, model.TracedOwner{PID: p.PID, Comm: p.Comm})
				}
			}
			st.AcceptErrors = append(st.AcceptErrors, l.Traced.AcceptErrors...)
		}
		st.AcceptErrors = append(st.AcceptErrors, ns.UnattributedAcceptErrors...)
	}
	obs.Trace = st
	for i := range obs.Listeners {
		l := &obs.Listeners[i]
		l.Traced = byEndpoint[l.Endpoint]
	}
}
