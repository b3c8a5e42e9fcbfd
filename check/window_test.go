package check

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func lobs(inode uint32, endpoint string, queue, backlog, syn uint32, drops *uint32) ListenerObservation {
	return ListenerObservation{Endpoint: endpoint, Inode: inode, AcceptQueue: queue, AcceptQueueMax: backlog,
		Fill: float64(queue) / float64(backlog+1), SynQueue: syn, Drops: drops}
}

// Peaks survive a drained queue; drops are judged by their increase; a
// listener that appears counts all its drops, one that goes is kept.
func TestWindowTracker(t *testing.T) {
	w := newWindowTracker()
	w.add([]ListenerObservation{
		lobs(1, "127.0.0.1:80", 0, 8, 0, u32(100)), // dropped 100 before the window
		lobs(2, "127.0.0.1:81", 0, 8, 0, u32(5)),
	})
	w.add([]ListenerObservation{
		lobs(1, "127.0.0.1:80", 9, 8, 3, u32(104)),
		lobs(2, "127.0.0.1:81", 2, 8, 0, u32(5)),
		lobs(3, "127.0.0.1:82", 1, 4, 0, u32(2)), // created during the window
	})
	w.add([]ListenerObservation{ // drained; 81 has closed
		lobs(1, "127.0.0.1:80", 0, 8, 0, u32(104)),
		lobs(3, "127.0.0.1:82", 0, 4, 1, u32(3)),
	})
	want := []ListenerObservation{
		{Endpoint: "127.0.0.1:80", Inode: 1, AcceptQueue: 9, AcceptQueueMax: 8, Fill: 1, SynQueue: 3, Drops: u32(4)},
		{Endpoint: "127.0.0.1:81", Inode: 2, AcceptQueue: 2, AcceptQueueMax: 8, Fill: 2.0 / 9, Drops: u32(0), Gone: true},
		{Endpoint: "127.0.0.1:82", Inode: 3, AcceptQueue: 1, AcceptQueueMax: 4, Fill: 0.2, SynQueue: 1, Drops: u32(3), Appeared: true},
	}
	if diff := cmp.Diff(want, w.result()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if w.samples != 3 {
		t.Errorf("samples = %d, want 3", w.samples)
	}
}

// The kernel's u32 sk_drops may wrap during a long window.
func TestWindowTrackerDropsWrap(t *testing.T) {
	w := newWindowTracker()
	w.add([]ListenerObservation{lobs(1, "a", 0, 8, 0, u32(^uint32(0)-1))})
	w.add([]ListenerObservation{lobs(1, "a", 0, 8, 0, u32(3))})
	if got := *w.result()[0].Drops; got != 5 {
		t.Errorf("drops increase across a wrap = %d, want 5", got)
	}
}

func TestCounterIncrease(t *testing.T) {
	got := counterIncrease(
		map[string]uint64{"TcpExtListenOverflows": 40, "TcpExtListenDrops": 50, "Gone": 1},
		map[string]uint64{"TcpExtListenOverflows": 42, "TcpExtListenDrops": 50, "New": 7},
	)
	want := map[string]uint64{"TcpExtListenOverflows": 2, "TcpExtListenDrops": 0, "New": 7}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
