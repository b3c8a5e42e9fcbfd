package model

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCounterDeltas(t *testing.T) {
	got := CounterDeltas(
		map[string]uint64{"TcpExtListenOverflows": 40, "TcpExtListenDrops": 50, "Gone": 1, "Reset": 9},
		map[string]uint64{"TcpExtListenOverflows": 42, "TcpExtListenDrops": 50, "New": 7, "Reset": 4},
	)
	want := map[string]uint64{"TcpExtListenOverflows": 2, "TcpExtListenDrops": 0, "New": 7, "Reset": 4}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// Listeners that reorder, appear and go keep their own peaks; Reset starts
// over.
func TestWindowReorder(t *testing.T) {
	var w Window
	w.Add([]QueueSample{{Inode: 1, AcceptQueue: 5, AcceptQueueMax: 9}, {Inode: 2, SynQueue: 3}})
	w.Add([]QueueSample{{Inode: 2, AcceptQueue: 1}, {Inode: 3, AcceptQueue: 7, AcceptQueueMax: 7}, {Inode: 1, AcceptQueueMax: 10}})
	w.Add([]QueueSample{{Inode: 3}, {Inode: 1, AcceptQueue: 2, AcceptQueueMax: 10}})
	type peaks struct {
		Inode, Queue, Syn, Max uint32
		First, Last            int
		Gone                   bool
	}
	var got []peaks
	for _, l := range w.Listeners() {
		got = append(got, peaks{l.Inode, l.PeakAcceptQueue, l.PeakSynQueue, l.AcceptQueueMax, l.FirstSample, l.LastSample, w.Gone(&l)})
	}
	want := []peaks{{1, 5, 0, 10, 1, 3, false}, {2, 1, 3, 0, 1, 2, true}, {3, 7, 0, 0, 2, 3, false}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if l, ok := w.Get(3); !ok || l.PeakFill != 7.0/8 || l.FirstAcceptQueue != 7 || l.FirstAcceptQueueMax != 7 {
		t.Errorf("Get(3) = %+v, %v; want a peak fill of 7/8 and 7 of 7 in its first sample", l, ok)
	}
	if l, _ := w.Get(1); l.FirstAcceptQueue != 5 || l.FirstAcceptQueueMax != 9 {
		t.Errorf("Get(1) first sample = %d of %d, want 5 of 9", l.FirstAcceptQueue, l.FirstAcceptQueueMax)
	}
	w.Reset()
	w.Add([]QueueSample{{Inode: 1, AcceptQueue: 1}})
	if l, ok := w.Get(1); !ok || l.PeakAcceptQueue != 1 || w.Samples != 1 {
		t.Errorf("after Reset: %+v, %v, samples %d; want only the new sample", l, ok, w.Samples)
	}
	if _, ok := w.Get(2); ok {
		t.Error("a listener from before Reset is still there")
	}
}

// Folding a sample of the same listeners as the last allocates nothing:
// watch does it up to 100 times a second.
func TestWindowAddAlignedAllocatesNothing(t *testing.T) {
	qs := make([]QueueSample, 500)
	for i := range qs {
		qs[i] = QueueSample{Inode: uint32(i + 1), AcceptQueue: uint32(i % 7), AcceptQueueMax: 128}
	}
	var w Window
	w.Add(qs)
	if n := testing.AllocsPerRun(100, func() { w.Add(qs) }); n != 0 {
		t.Errorf("Add of an aligned sample: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { w.AddPeaks(qs) }); n != 0 {
		t.Errorf("AddPeaks of an aligned sample: %v allocations, want 0", n)
	}
	w.Reset()
	w.Add(qs)
	if n := testing.AllocsPerRun(100, func() { w.Reset(); w.Add(qs) }); n != 0 {
		t.Errorf("Add after Reset: %v allocations, want 0 once the window has grown", n)
	}
}

// AddPeaks raises the peaks as Add does, and leaves the last values alone.
func TestWindowAddPeaks(t *testing.T) {
	var w Window
	w.Add([]QueueSample{{Inode: 1, AcceptQueue: 1, AcceptQueueMax: 4, Drops: 3, HasDrops: true}})
	w.AddPeaks([]QueueSample{{Inode: 1, AcceptQueue: 4, AcceptQueueMax: 8, SynQueue: 2}})
	w.AddPeaks([]QueueSample{{Inode: 2, AcceptQueue: 1, AcceptQueueMax: 1}, {Inode: 1}})
	l, _ := w.Get(1)
	if l.PeakAcceptQueue != 4 || l.PeakSynQueue != 2 || l.PeakFill != 4.0/9 || l.AcceptQueueMax != 4 || l.LastSample != 1 {
		t.Errorf("listener 1 = %+v; want peaks 4, 2, 4/9 and the last values of sample 1", l)
	}
	if inc, ok := l.DropsIncrease(); !ok || inc != 0 {
		t.Errorf("drops increase = %d, %v; want 0 from sample 1's counter", inc, ok)
	}
	if l, ok := w.Get(2); !ok || l.PeakFill != 0.5 || l.FirstSample != 3 {
		t.Errorf("listener 2 = %+v, %v; want first seen in sample 3 at fill 0.5", l, ok)
	}
}
