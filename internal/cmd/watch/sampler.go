package watch

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/netns"
)

// target is one namespace being watched: its own sock_diag socket (opened
// inside it, so dumps need no setns), and what the samples have seen.
type target struct {
	ns      *netns.Namespace // nil: the namespace we run in
	roots   hostfs.Roots
	dumper  *inspect.Dumper
	sampler *inspect.Sampler
	// synEvery: every how many samples the SYN queue is recounted.
	synEvery int
	n        int

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
}

// newTarget opens the dumper (inside ns, if any) and takes the first sample,
// which is the baseline for the first interval's rates.
func newTarget(ns *netns.Namespace, roots hostfs.Roots, ports []uint16, synEvery int) (*target, error) {
	t := &target{ns: ns, roots: roots.WithDefaults(), synEvery: max(synEvery, 1),
		prevDrops: map[uint32]uint32{}, spareDrops: map[uint32]uint32{}}
	open := func() error {
		var err error
		t.dumper, err = inspect.NewDumper()
		return err
	}
	var err error
	if ns == nil {
		err = open()
	} else {
		err = netns.Do(ns.Path, open) // the socket keeps the namespace it was made in
	}
	if err != nil {
		return nil, err
	}
	t.sampler = inspect.NewSampler(t.dumper, ports)
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
}

// sample takes one dump and raises the peaks. No /proc access, no setns;
// the SYN queue is recounted every synEvery samples (the first one
// included); drop counters are fetched only for the last sample before a
// print (final), the one report reads.
func (t *target) sample(final bool) error {
	qs, err := t.sampler.Sample(inspect.SampleOptions{SynQueue: t.n%t.synEvery == 0, Drops: final})
	t.n++
	if err != nil {
		return err
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
		err = netns.Do(t.ns.Path, func() error {
			var rerr error
			all, rerr = inspect.ReadNetstat(filepath.Join(t.roots.Proc, "thread-self"))
			return rerr
		})
	}
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, len(inspect.CounterNames))
	for _, name := range inspect.CounterNames {
		if v, ok := all[name]; ok {
			out[name] = v
		}
	}
	return out, nil
}

// report builds the interval's Report from the last sample and the peaks,
// then starts a new interval.
func (t *target) report(now time.Time, processes bool) (*Report, error) {
	counters, err := t.counters()
	if err != nil {
		return nil, err
	}
	ls := t.sampler.Listeners()
	elapsed := now.Sub(t.prevTime).Seconds()
	r := &Report{Time: now.UTC(), IntervalSeconds: elapsed, Samples: t.samples, Netns: t.ns,
		Counters: counters, Rates: make(map[string]float64, len(counters)),
		Listeners: make([]ListenerReport, 0, len(ls))}
	for name, v := range counters {
		r.Rates[name] = rate(t.prevCounters[name], v, elapsed)
	}
	if processes {
		snap := &inspect.Snapshot{Listeners: ls}
		inspect.AttachProcesses(t.roots, snap)
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
		lr := ListenerReport{Listener: l, PeakAcceptQueue: p.PeakAcceptQueue, PeakFill: p.PeakFill, PeakSynQueue: p.PeakSynQueue}
		if prev, ok := t.prevDrops[l.Inode]; ok {
			lr.DropsPerSecond = rate(uint64(prev), uint64(l.DropCount()), elapsed)
		}
		drops[l.Inode] = l.DropCount()
		r.Listeners = append(r.Listeners, lr)
		l.AcceptQueue, l.SynQueue = lr.PeakAcceptQueue, lr.PeakSynQueue
		t.runLs = append(t.runLs, l)
	}
	t.run.AddListeners(t.runLs)
	slices.SortStableFunc(r.Listeners, func(a, b ListenerReport) int {
		return cmp.Or(cmp.Compare(b.PeakFill, a.PeakFill), cmp.Compare(b.Fill, a.Fill))
	})
	t.prevTime, t.prevCounters = now, counters
	t.prevDrops, t.spareDrops = drops, t.prevDrops
	t.samples = 0
	t.peaks.Reset()
	return r, nil
}

// runPeaks is what the whole run saw of each listener, for the summary.
func (t *target) runPeaks() []Peak {
	ws := t.run.Listeners()
	out := make([]Peak, 0, len(ws))
	for i := range ws {
		lw := &ws[i]
		if lw.LastSample == 1 {
			continue // seen only in the baseline, before any report
		}
		p := Peak{Endpoint: t.run.Last(lw).Endpoint(), Backlog: lw.FirstAcceptQueueMax,
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

// vanished reports whether err means the target's namespace is gone.
func vanished(err error) bool { return errors.Is(err, netns.ErrVanished) }

func targetName(t *target) string {
	if t.ns == nil {
		return "this network namespace"
	}
	return fmt.Sprintf("network namespace %s", t.ns.Label())
}
