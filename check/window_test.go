package check

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/model"
)

func lobs(inode uint32, endpoint string, queue, backlog, syn uint32, drops *uint32) model.Listener {
	ep := netip.MustParseAddrPort(endpoint)
	return model.Listener{Address: ep.Addr().String(), Addr: ep.Addr(), Port: ep.Port(), Inode: inode,
		AcceptQueue: queue, AcceptQueueMax: backlog, Fill: model.Fill(queue, backlog), SynQueue: syn, Drops: drops}
}

// windowOf folds the samples into a window.
func windowOf(samples ...[]model.Listener) *model.Window {
	var w model.Window
	for _, s := range samples {
		w.AddListeners(s)
	}
	return &w
}

// Peaks survive a drained queue; drops are judged by their increase; a
// listener that appears counts all its drops, one that goes is kept.
func TestWindowListeners(t *testing.T) {
	w := windowOf([]model.Listener{
		lobs(1, "127.0.0.1:80", 0, 8, 0, u32(100)), // dropped 100 before the window
		lobs(2, "127.0.0.1:81", 0, 8, 0, u32(5)),
	}, []model.Listener{
		lobs(1, "127.0.0.1:80", 9, 8, 3, u32(104)),
		lobs(2, "127.0.0.1:81", 2, 8, 0, u32(5)),
		lobs(3, "127.0.0.1:82", 1, 4, 0, u32(2)), // created during the window
	}, []model.Listener{ // drained; 81 has closed
		lobs(1, "127.0.0.1:80", 0, 8, 0, u32(104)),
		lobs(3, "127.0.0.1:82", 0, 4, 1, u32(3)),
	})
	want := []model.ListenerObservation{
		{Endpoint: "127.0.0.1:80", Inode: 1, AcceptQueue: 9, AcceptQueueMax: 8, Fill: 1, SynQueue: 3, Drops: u32(4)},
		{Endpoint: "127.0.0.1:81", Inode: 2, AcceptQueue: 2, AcceptQueueMax: 8, Fill: 2.0 / 9, Drops: u32(0), Gone: true},
		{Endpoint: "127.0.0.1:82", Inode: 3, AcceptQueue: 1, AcceptQueueMax: 4, Fill: 0.2, SynQueue: 1, Drops: u32(3), Appeared: true},
	}
	if diff := cmp.Diff(want, model.WindowListeners(w)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if w.Samples != 3 {
		t.Errorf("samples = %d, want 3", w.Samples)
	}
}

// The kernel's u32 sk_drops may wrap during a long window.
func TestWindowListenersDropsWrap(t *testing.T) {
	w := windowOf([]model.Listener{lobs(1, "127.0.0.1:1", 0, 8, 0, u32(^uint32(0)-1))},
		[]model.Listener{lobs(1, "127.0.0.1:1", 0, 8, 0, u32(3))})
	if got := *model.WindowListeners(w)[0].Drops; got != 5 {
		t.Errorf("drops increase across a wrap = %d, want 5", got)
	}
}
