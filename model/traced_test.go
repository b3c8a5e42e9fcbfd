package model

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Percentiles are the upper bounds of their buckets, never above the exact
// max; the summary lists the non-empty buckets, the last one unbounded.
func TestWaitQuantiles(t *testing.T) {
	h := WaitHistogram{Count: 100, MaxNs: 40_000_000}
	h.Buckets[10] = 50 // [1024, 2048) ns
	h.Buckets[20] = 49 // [~1ms, ~2ms)
	h.Buckets[25] = 1  // [~33ms, ~67ms)
	s := h.Summary()
	if s.P50 != 2048e-9 || s.P90 != 2097152e-9 || s.P99 != 2097152e-9 || s.Max != 0.04 {
		t.Errorf("p50 %g p90 %g p99 %g max %g", s.P50, s.P90, s.P99, s.Max)
	}
	if h.Quantile(1) != 0.04 {
		t.Errorf("p100 %g, want the exact max", h.Quantile(1))
	}
	if len(s.Buckets) != 3 || *s.Buckets[2].LE != 67108864e-9 || s.Buckets[2].Count != 1 {
		t.Errorf("buckets %+v", s.Buckets)
	}
	var last WaitHistogram
	last.Buckets[WaitBuckets-1], last.Count, last.MaxNs = 1, 1, 5e12
	if s := last.Summary(); s.Buckets[0].LE != nil || s.P99 != 5000 {
		t.Errorf("the last bucket: %+v", s)
	}
	if (&WaitHistogram{}).Quantile(0.99) != 0 {
		t.Error("a quantile of no waits is not 0")
	}
}

func read(enqueued, accepted, overflows uint64, at time.Time) *Traced {
	t := &Traced{At: at, Enqueued: enqueued, Accepted: accepted, Overflows: Overflows{AckTime: overflows},
		Drops:        map[string]uint64{"TCP_LISTEN_OVERFLOW": overflows},
		AcceptWait:   WaitHistogram{Count: accepted, SumNs: accepted << 20, MaxNs: 1 << 21},
		AcceptErrors: []AcceptErrors{{PID: 7, Errno: "EMFILE", Count: enqueued - accepted}}}
	t.AcceptWait.Buckets[20] = accepted
	return t
}

// Since is what happened between two reads, each count by Delta; when the
// programs' slot for the listener was reset between them (a count went
// down), all of the later read happened since, and nothing wraps.
func TestTracedSince(t *testing.T) {
	at := time.Unix(100, 0)
	first, second := read(10, 8, 2, at), read(25, 20, 3, at.Add(time.Second))
	got := second.Since(first)
	if got.Enqueued != 15 || got.Accepted != 12 || got.Overflows.AckTime != 1 || got.Drops["TCP_LISTEN_OVERFLOW"] != 1 ||
		got.AcceptWait.Count != 12 || got.AcceptWait.Buckets[20] != 12 {
		t.Errorf("interval %+v, want 15 enqueued, 12 accepted and waited, 1 overflow", got)
	}
	if diff := cmp.Diff([]AcceptErrors{{PID: 7, Errno: "EMFILE", Count: 3}}, got.AcceptErrors); diff != "" {
		t.Errorf("accept errors (-want +got):\n%s", diff)
	}
	reset := read(3, 2, 0, at.Add(2*time.Second))
	got = reset.Since(second)
	if got.Enqueued != 3 || got.Accepted != 2 || got.AcceptWait.Count != 2 || got.AcceptWait.Buckets[20] != 2 || got.Overflows.AckTime != 0 {
		t.Errorf("after a reset slot: %+v, want the whole of the later read (3 enqueued, 2 accepted), nothing wrapped", got)
	}
	if got := second.Since(nil); got.Enqueued != 25 {
		t.Errorf("a first read: %d enqueued, want all 25", got.Enqueued)
	}
}

// The window's fold of traced reads: the high water's time is the first
// read that saw it, the longest stall is kept with its queue and owners,
// and an interval is the last two reads' difference.
func TestWindowFoldsTraced(t *testing.T) {
	at := time.Unix(100, 0)
	owner := []TracedOwner{{PID: 9, Comm: "srv", State: "T (stopped)"}}
	reads := []struct {
		queue uint32
		t     *Traced
	}{
		{2, &Traced{At: at, HighWater: 2, Enqueued: 2, Held: 100 * time.Millisecond}},
		{5, &Traced{At: at.Add(time.Second), HighWater: 5, Enqueued: 5, Held: 3 * time.Second, Owners: owner}},
		{5, &Traced{At: at.Add(2 * time.Second), HighWater: 5, Enqueued: 5, Held: 0}},
		{0, &Traced{At: at.Add(3 * time.Second), HighWater: 5, Enqueued: 9, Accepted: 9, Held: 9 * time.Second}},
	}
	var w Window
	for _, r := range reads {
		w.AddListeners([]Listener{{Inode: 1, AcceptQueue: r.queue, AcceptQueueMax: 4, Traced: r.t}})
	}
	lw, _ := w.Get(1)
	got := lw.Traced()
	if !got.HighWaterAt.Equal(at.Add(time.Second)) || got.HighWater != 5 {
		t.Errorf("high water %d at %v, want 5 at the second read", got.HighWater, got.HighWaterAt)
	}
	// The last read's hold was of an empty queue: not a stall.
	if got.Stall.Held != 3*time.Second || got.Stall.Queue != 5 || !cmp.Equal(got.Stall.Owners, owner) {
		t.Errorf("stall %+v, want 3s with 5 waiting, the owner then", got.Stall)
	}
	if iv := lw.TracedInterval(); iv.Enqueued != 4 || iv.Accepted != 9 {
		t.Errorf("last interval %+v, want 4 enqueued and 9 accepted", iv)
	}
	if lw.HighWaterRose() {
		t.Error("the high water rose at the last read; it held")
	}
}
