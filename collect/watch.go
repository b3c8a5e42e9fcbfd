package collect

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/netns"
)

// WatchOptions shape a Watcher beside Options.
type WatchOptions struct {
	// SynEvery is every how many samples the SYN queue is recounted.
	SynEvery int
}

// Watcher samples the namespaces its Options name fast (watch): each
// through a sock_diag socket opened inside it once, when the watch starts,
// so that no sample enters a namespace again; every Report closes an
// interval, folding its samples into each listener's peaks (model.Window)
// and, when tracing, the evidence read then into each listener's interval.
type Watcher struct {
	o      Options
	kept   *kept[*target]
	tracer *tracer
	// here is the inode of the namespace the watcher runs in (targets with ns nil).
	here uint64
	// notes say which namespaces were dropped since the last Notes.
	notes []string
	// pods names the owners' pods in every report, keeping what the
	// runtime said between them; nil without Options.Pods.
	pods *podNamer
}

// target is one namespace being watched: its own sock_diag socket, and
// what the samples have seen.
type target struct {
	ns      *model.Namespace // nil: the namespace we run in
	roots   hostfs.Roots
	dumper  *inspect.Dumper
	sampler *inspect.Sampler
	// synEvery: every how many samples the SYN queue is recounted.
	synEvery int
	n        int
	// snmp is the namespace's /proc/net/snmp, opened inside it, and syn
	// what its SYN-queue walks found: the walk is left out where it cannot
	// find a request socket (synWalks).
	snmp *os.File
	syn  synWalks
	// pods names the owners' pods (the watcher's, shared by every target).
	pods *podNamer

	// Per print interval, reset by report.
	samples int
	peaks   model.Window

	// Between reports, for rates.
	prevTime     time.Time
	prevCounters map[string]uint64
	prevDrops    map[uint32]uint32
	spareDrops   map[uint32]uint32 // the map before prevDrops, reused

	// Whole run, for the exit summary: each interval's peaks folded in as
	// one sample, after a baseline of the first sample's drop counters.
	run   model.Window
	runLs []model.Listener

	// traced folds every report's eBPF evidence, for its intervals.
	traced model.Window
}

// NewWatcher opens a sock_diag socket inside each namespace o names (and
// takes a first sample there, the baseline of the first interval's rates)
// and, with tracing, attaches the programs. Under --all-netns a namespace
// that cannot be opened is a note; otherwise it is an error. An error for
// which TraceUnavailable holds means the kernel refused the programs.
func NewWatcher(o Options, w WatchOptions) (*Watcher, error) {
	nss, notes, err := o.Namespaces.Resolve(o.Roots)
	if err != nil {
		return nil, err
	}
	wa := &Watcher{o: o, notes: notes, pods: o.podNamer()}
	k, skipped, firstErr := keep(nss, func(ns *model.Namespace) (*target, error) {
		return newTarget(ns, o.Roots, o.selection(), w.SynEvery, wa.pods)
	})
	wa.kept = k
	if firstErr != nil && (nss == nil || !o.Namespaces.All) {
		wa.Close()
		return nil, firstErr
	}
	wa.notes = append(wa.notes, skipped...)
	if len(wa.targets()) == 0 {
		return nil, errors.New("no network namespace could be watched")
	}
	if o.Trace != TraceOff {
		if wa.tracer, err = startTracer(o); err != nil {
			wa.Close()
			return nil, err
		}
		// A stalled queue's owners, with their state, without --processes.
		wa.tracer.owners = &ownerCache{Roots: o.Roots, MaxAge: ownersMaxAge}
		cur, _ := netns.Current()
		wa.here = cur.Inode
	}
	return wa, nil
}

// Tracing reports whether the reports carry eBPF evidence.
func (w *Watcher) Tracing() bool { return w.tracer != nil }

// targets are the namespaces still watched.
func (w *Watcher) targets() []*target { return w.kept.values() }

// Close closes every namespace's socket and detaches the programs.
func (w *Watcher) Close() {
	for _, t := range w.targets() {
		t.close()
	}
	w.tracer.close()
}

// Notes are what happened to the watched namespaces since the last call
// (one dropped, and why).
func (w *Watcher) Notes() []string {
	n := w.notes
	w.notes = nil
	return n
}

// Sample takes one dump in every namespace; final says a report follows
// (only its sample fetches the drop counters).
func (w *Watcher) Sample(final bool) error {
	return w.each(func(t *target) error { return t.sample(final) })
}

// Report ends the interval in every namespace: the last sample's listeners
// (with their owners, with processes), each with its peaks since the last
// report and, when tracing, the evidence of the interval.
func (w *Watcher) Report(now time.Time, processes bool) ([]*model.WatchReport, error) {
	rs := make([]*model.WatchReport, 0, len(w.targets()))
	err := w.each(func(t *target) error {
		r, err := t.report(now, processes)
		if err == nil {
			rs = append(rs, r)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if w.tracer != nil {
		if err := w.trace(rs); err != nil {
			return nil, err
		}
	}
	return rs, nil
}

// trace reads the evidence once for every namespace and gives each listener
// its interval (model.ListenerWindow.TracedInterval): the programs count
// since they were attached, so an interval is the difference of two reads,
// folded as any window's.
func (w *Watcher) trace(rs []*model.WatchReport) error {
	m := &model.MultiSnapshot{}
	for _, r := range rs {
		ns := model.Namespace{Inode: w.here}
		if r.Netns != nil {
			ns = *r.Netns
		}
		ls := make([]model.Listener, len(r.Listeners))
		for i := range r.Listeners {
			ls[i] = r.Listeners[i].Listener
		}
		m.Namespaces = append(m.Namespaces, model.NamespaceSnapshot{Netns: ns, Snapshot: &model.Snapshot{Listeners: ls, Counters: r.Counters}})
	}
	if err := w.tracer.read(m, w.o.stall()); err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	targets := w.targets()
	for i, r := range rs {
		r.Traced, r.TraceMode = true, m.Trace.Mode
		t := targets[i]
		ls := m.Namespaces[i].Listeners
		t.traced.AddListeners(ls)
		for j := range r.Listeners {
			if lw, ok := t.traced.Get(ls[j].Inode); ok {
				r.Listeners[j].Traced = model.NewWatchTraced(lw, ls[j].AcceptQueueMax, ls[j].AcceptQueue, w.o.stall())
				if ls[j].IsUnix() && m.Trace.Mode != string(TraceQueue) {
					r.Listeners[j].Traced.WithUnixConnects(lw)
				}
			}
		}
	}
	return nil
}

// RunPeaks is what the whole run saw of each listener, for the summary.
func (w *Watcher) RunPeaks() []model.WatchPeak {
	var peaks []model.WatchPeak
	for _, t := range w.targets() {
		peaks = append(peaks, t.runPeaks()...)
	}
	return peaks
}

// each runs fn on every target. Under --all-netns a namespace that fails is
// dropped with a note (unless it is the last one and has not vanished);
// otherwise the failure ends the watch.
func (w *Watcher) each(fn func(*target) error) error {
	last := len(w.targets()) == 1
	dropped, notes, err := w.kept.round(fn, func(t *target, err error) error {
		if !w.o.Namespaces.All || last && !errors.Is(err, netns.ErrVanished) {
			return fmt.Errorf("watching %s: %w", targetName(t), err)
		}
		return nil
	})
	w.notes = append(w.notes, notes...)
	for _, t := range dropped {
		t.close()
	}
	if err != nil {
		return err
	}
	if len(w.targets()) == 0 {
		return errors.New("every watched network namespace is gone")
	}
	return nil
}

// newTarget opens the dumper (inside ns, if any) and takes the first sample,
// which is the baseline for the first interval's rates.
func newTarget(ns *model.Namespace, roots hostfs.Roots, sel inspect.Selection, synEvery int, pods *podNamer) (*target, error) {
	t := &target{ns: ns, roots: roots.WithDefaults(), synEvery: max(synEvery, 1), pods: pods,
		prevDrops: map[uint32]uint32{}, spareDrops: map[uint32]uint32{}}
	var err error
	// Opened where keep runs it: inside ns (the socket keeps the namespace
	// it was made in).
	if t.dumper, err = inspect.NewDumper(); err != nil {
		return nil, err
	}
	t.sampler = inspect.NewSampler(t.dumper, sel)
	// Opened here, inside ns: it keeps reading that namespace's counters.
	if f, err := os.Open(filepath.Join(t.roots.Proc, "thread-self", "net", "snmp")); err == nil {
		t.snmp = f
	}
	if err := t.sample(true); err != nil {
		t.close()
		return nil, err
	}
	t.prevTime = time.Now()
	if t.prevCounters, err = t.counters(); err != nil {
		t.close()
		return nil, err
	}
	first := t.sampler.Listeners()
	for i, l := range first {
		t.prevDrops[l.Inode] = l.DropCount()
		// The baseline holds the drops only: the queues count from the
		// first interval, as the reports' peaks do.
		first[i].AcceptQueue, first[i].SynQueue = 0, 0
	}
	t.run.AddListeners(first)
	t.samples = 0
	t.peaks.Reset()
	return t, nil
}

func (t *target) close() {
	if t.dumper != nil {
		t.dumper.Close()
	}
	if t.snmp != nil {
		t.snmp.Close()
	}
}

// sample takes one dump and raises the peaks. No /proc access, no setns;
// the SYN queue is recounted every synEvery samples (the first one
// included); drop counters are fetched only for the last sample before a
// print (final), the one report reads. A target without its namespace's
// /proc/net/snmp walks the SYN queue whenever it recounts it.
func (t *target) sample(final bool) error {
	syn := t.n%t.synEvery == 0
	var inSegs uint64
	counted := false // inSegs was read before this recount
	if syn && t.snmp != nil {
		if n, err := inspect.TCPInSegs(t.snmp); err == nil {
			// The walk is left out where it cannot find a request socket
			// (synWalks): the count carried, 0, is then exact.
			inSegs, counted = n, true
			syn = !t.syn.skip(0, n)
		}
	}
	qs, err := t.sampler.Sample(inspect.SampleOptions{SynQueue: syn, Drops: final})
	t.n++
	if err != nil {
		return err
	}
	if syn && counted {
		empty := true
		for _, q := range qs {
			empty = empty && q.SynQueue == 0
		}
		t.syn.walked(0, inSegs, empty)
	}
	t.samples++
	t.peaks.AddPeaks(qs)
	return nil
}

// counters reads the key counters in the target's namespace: for a foreign
// one, on a thread inside it from /proc/thread-self/net (/proc/self/net
// follows the thread-group leader).
func (t *target) counters() (map[string]uint64, error) {
	var all map[string]uint64
	var err error
	if t.ns == nil {
		all, err = inspect.ReadNetstat(t.roots.Proc)
	} else {
		err = each([]model.Namespace{*t.ns}, 1, func(int, model.Namespace) error {
			var rerr error
			all, rerr = inspect.ReadNetstat(filepath.Join(t.roots.Proc, "thread-self"))
			return rerr
		})[0]
	}
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, len(model.CounterNames))
	for _, name := range model.CounterNames {
		if v, ok := all[name]; ok {
			out[name] = v
		}
	}
	return out, nil
}

// report builds the interval's report from the last sample and the peaks,
// then starts a new interval.
func (t *target) report(now time.Time, processes bool) (*model.WatchReport, error) {
	counters, err := t.counters()
	if err != nil {
		return nil, err
	}
	ls := t.sampler.Listeners()
	elapsed := now.Sub(t.prevTime).Seconds()
	r := &model.WatchReport{Time: now.UTC(), IntervalSeconds: elapsed, Samples: t.samples, Netns: t.ns,
		Counters: counters, Rates: make(map[string]float64, len(counters)),
		Listeners: make([]model.WatchListener, 0, len(ls))}
	for name, v := range counters {
		r.Rates[name] = rate(t.prevCounters[name], v, elapsed)
	}
	if processes {
		snap := &model.Snapshot{Listeners: ls}
		snap.Warnings = appendOwnerWarnings(snap.Warnings, inspect.StartOwnerWalk(t.roots.Proc, true), snap.Listeners, t.pods)
		r.Warnings = snap.Warnings
	}
	drops := t.spareDrops
	clear(drops)
	t.runLs = t.runLs[:0]
	for _, l := range ls {
		var p model.ListenerWindow
		if w, ok := t.peaks.Get(l.Inode); ok {
			p = *w
		}
		// A listener that joined an SO_REUSEPORT group since the last SYN
		// count gets the group's count only here, from the full attribution.
		p.PeakSynQueue = max(p.PeakSynQueue, l.SynQueue)
		lr := model.WatchListener{Listener: l, PeakAcceptQueue: p.PeakAcceptQueue, PeakFill: p.PeakFill, PeakSynQueue: p.PeakSynQueue}
		if prev, ok := t.prevDrops[l.Inode]; ok {
			lr.DropsPerSecond = rate(uint64(prev), uint64(l.DropCount()), elapsed)
		}
		drops[l.Inode] = l.DropCount()
		r.Listeners = append(r.Listeners, lr)
		l.AcceptQueue, l.SynQueue = lr.PeakAcceptQueue, lr.PeakSynQueue
		t.runLs = append(t.runLs, l)
	}
	t.run.AddListeners(t.runLs)
	slices.SortStableFunc(r.Listeners, func(a, b model.WatchListener) int {
		return cmp.Or(cmp.Compare(b.PeakFill, a.PeakFill), cmp.Compare(b.Fill, a.Fill))
	})
	t.prevTime, t.prevCounters = now, counters
	t.prevDrops, t.spareDrops = drops, t.prevDrops
	t.samples = 0
	t.peaks.Reset()
	return r, nil
}

// runPeaks is what the whole run saw of each listener, for the summary.
func (t *target) runPeaks() []model.WatchPeak {
	ws := t.run.Listeners()
	out := make([]model.WatchPeak, 0, len(ws))
	for i := range ws {
		lw := &ws[i]
		if lw.LastSample == 1 {
			continue // seen only in the baseline, before any report
		}
		p := model.WatchPeak{Endpoint: t.run.Last(lw).Endpoint(), Backlog: lw.FirstAcceptQueueMax,
			AcceptQueue: lw.PeakAcceptQueue, Fill: lw.PeakFill, SynQueue: lw.PeakSynQueue}
		if t.ns != nil {
			p.Netns = t.ns.Label()
		}
		if inc, ok := lw.DropsIncrease(); ok {
			p.Drops = uint64(inc)
		}
		out = append(out, p)
	}
	return out
}

// rate is the per-second increase; a counter that went down (a reset, or a
// listener replaced under the same inode) counts from zero.
func rate(prev, cur uint64, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return float64(model.Delta(prev, cur)) / seconds
}

func targetName(t *target) string {
	if t.ns == nil {
		return "this network namespace"
	}
	return fmt.Sprintf("network namespace %s", t.ns.Label())
}
