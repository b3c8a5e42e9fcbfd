package trace

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/netns"
)

func u32p(v uint32) *uint32 { return &v }

func nsSnap(overflows uint64, ls ...inspect.Listener) *inspect.MultiSnapshot {
	return &inspect.MultiSnapshot{Namespaces: []inspect.NamespaceSnapshot{{
		Netns:    netns.Namespace{Inode: 7, Name: "blue"},
		Snapshot: &inspect.Snapshot{Counters: map[string]uint64{"TcpExtListenOverflows": overflows}, Listeners: ls},
	}}}
}

// SYN-time overflows: the namespace's ListenOverflows rise minus the
// ACK-time ones seen, given to the listeners whose queue filled (here 1, by
// its ACK-time overflows, and 2, sampled full), by each one's unexplained
// drop-count rise, most first; a listener that never filled gets none.
func TestDeriveSynTime(t *testing.T) {
	start := time.Unix(1000, 0)
	base := NewBaseline(nsSnap(100,
		inspect.Listener{Port: 1, Cookie: 11, Drops: u32p(5)},
		inspect.Listener{Port: 2, Cookie: 22, Drops: u32p(0)},
		inspect.Listener{Port: 3, Cookie: 33, Drops: u32p(0)}))
	now := nsSnap(120, // 20 overflows in the namespace
		inspect.Listener{Port: 1, Cookie: 11, Drops: u32p(5 + 4)},                                 // 4 drops, 2 seen as ACK-time overflows
		inspect.Listener{Port: 2, Cookie: 22, Drops: u32p(30), AcceptQueue: 3, AcceptQueueMax: 2}, // full, 30 unexplained: gets what remains
		inspect.Listener{Port: 3, Cookie: 33, Drops: u32p(1)})                                     // 1 defer-accept drop, explained
	ev := &Evidence{Since: start, Time: start.Add(time.Second), Listeners: map[Key]*ListenerEvidence{
		{7, 11}: {Key: Key{7, 11}, AckOverflows: 2, Drops: map[string]uint64{ListenOverflowReason: 2}},
		{7, 33}: {Key: Key{7, 33}, Drops: map[string]uint64{DeferAcceptReason: 1}},
	}}
	r := Join(ev, JoinInput{Base: base, Now: now, Stall: time.Second})
	got := map[uint16]Overflows{}
	for _, l := range r.Listeners {
		got[l.Port] = l.Overflows
	}
	// 20 - 2 ACK-time = 18 SYN-time: listener 1's 4 drops are its 2
	// overflowed ACKs (2 each); listener 2 (30 unexplained) takes all 18.
	want := map[uint16]Overflows{1: {SynTime: 0, AckTime: 2}, 2: {SynTime: 18}, 3: {}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("overflows (-want +got):\n%s", diff)
	}
	if r.Listeners[0].NetnsName != "blue" || r.Listeners[0].Netns != 7 {
		t.Errorf("namespace %d %q", r.Listeners[0].Netns, r.Listeners[0].NetnsName)
	}
}

// A listener whose queue is held without an accept for the threshold is
// stalled, measured from its last accept or when its queue became non-empty.
func TestStall(t *testing.T) {
	start := time.Unix(1000, 0)
	now := start.Add(10 * time.Second)
	for _, c := range []struct {
		name         string
		queue        uint32
		lastAccept   time.Time
		waitingSince time.Time
		want         bool
	}{
		{"queued since before trace, never accepted", 3, time.Time{}, time.Time{}, true},
		{"accepted just now", 3, now.Add(-100 * time.Millisecond), start.Add(time.Second), false},
		{"queue became non-empty just now", 1, start.Add(time.Second), now.Add(-time.Millisecond), false},
		{"held 5s after the last accept", 2, now.Add(-5 * time.Second), start, true},
		{"empty queue", 0, time.Time{}, time.Time{}, false},
	} {
		ev := &Evidence{Since: start, Time: now, Listeners: map[Key]*ListenerEvidence{
			{7, 11}: {Key: Key{7, 11}, Drops: map[string]uint64{}, LastAccept: c.lastAccept, WaitingSince: c.waitingSince},
		}}
		r := Join(ev, JoinInput{Base: NewBaseline(nsSnap(0)), Now: nsSnap(0, inspect.Listener{Cookie: 11, AcceptQueue: c.queue}), Stall: time.Second})
		if got := r.Listeners[0].Stalled; got != c.want {
			t.Errorf("%s: stalled %v, want %v", c.name, got, c.want)
		}
	}
}

// Percentiles are the upper bounds of their buckets, never above the exact max.
func TestHistogram(t *testing.T) {
	buckets := make([]uint64, waitBuckets)
	buckets[10] = 50 // [1024, 2048) ns
	buckets[20] = 49 // [~1ms, ~2ms)
	buckets[25] = 1  // [~33ms, ~67ms)
	h := newHistogram(buckets, 100, 0, 40_000_000)
	if h.P50 != 2048e-9 || h.P90 != 2097152e-9 || h.P99 != 2097152e-9 || h.Max != 0.04 {
		t.Errorf("p50 %g p90 %g p99 %g max %g", h.P50, h.P90, h.P99, h.Max)
	}
	if len(h.Buckets) != 3 || *h.Buckets[2].LE != 67108864e-9 || h.Buckets[2].Count != 1 {
		t.Errorf("buckets %+v", h.Buckets)
	}
	last := make([]uint64, waitBuckets)
	last[waitBuckets-1] = 1
	if h := newHistogram(last, 1, 0, 5e12); h.Buckets[0].LE != nil || h.P99 != 5000 {
		t.Errorf("the last bucket: %+v", h)
	}
}

// Only processes of the reported namespaces are looked up.
func TestOwnerPIDs(t *testing.T) {
	ev := &Evidence{Listeners: map[Key]*ListenerEvidence{
		{7, 11}: {Key: Key{7, 11}, LastAcceptPID: 100},
		{8, 12}: {Key: Key{8, 12}, LastAcceptPID: 200},
	}}
	m := nsSnap(0, inspect.Listener{Cookie: 11, Processes: []inspect.Process{{PID: 100}, {PID: 300}}})
	got := OwnerPIDs(ev, m)
	if diff := cmp.Diff([]int{100, 300}, got); diff != "" {
		t.Errorf("pids (-want +got):\n%s", diff)
	}
}
