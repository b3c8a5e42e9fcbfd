package collect

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/model"
)

func runListener(inode uint32, port uint16, queue, backlog, drops uint32) model.Listener {
	return model.Listener{Inode: inode, Addr: netip.MustParseAddr("127.0.0.1"), Port: port,
		AcceptQueue: queue, AcceptQueueMax: backlog, Drops: &drops}
}

// The summary folds each interval's peaks over the run: the highest peaks,
// the first backlog, and the drops since the baseline (all of them for a
// listener opened during the run); one seen only in the baseline is not in it.
func TestRunPeaks(t *testing.T) {
	tg := &target{ns: &model.Namespace{Name: "web"}}
	tg.run.AddListeners([]model.Listener{ // baseline: drops only
		runListener(1, 80, 0, 7, 10), runListener(2, 81, 0, 7, 5)})
	tg.run.AddListeners([]model.Listener{runListener(1, 80, 3, 7, 15)})
	tg.run.AddListeners([]model.Listener{runListener(1, 80, 1, 7, 18), runListener(3, 82, 2, 3, 4)})
	want := []model.WatchPeak{
		{Netns: "web", Endpoint: "127.0.0.1:80", Backlog: 7, AcceptQueue: 3, Fill: 3.0 / 8, Drops: 8},
		{Netns: "web", Endpoint: "127.0.0.1:82", Backlog: 3, AcceptQueue: 2, Fill: 2.0 / 4, Drops: 4},
	}
	if diff := cmp.Diff(want, tg.runPeaks()); diff != "" {
		t.Errorf("run peaks (-want +got):\n%s", diff)
	}
}
