package watch

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/model"

	"github.com/google/go-cmp/cmp"
)

// appendReport writes the same document as encoding/json.
func TestAppendReportMatchesEncodingJSON(t *testing.T) {
	drops, yes, no := uint32(7), true, false
	full := model.Listener{Family: "ipv6", Address: "::", Port: 443, AcceptQueue: 3, AcceptQueueMax: 511,
		Fill: 3.0 / 512, SynQueue: 2, SynQueueShared: true, Drops: &drops, Inode: 99, UID: 1000, V6Only: &no,
		ReuseportGroup: 1, ReuseportSize: 2,
		Processes: []model.Process{{PID: 1, Comm: "a \"quoted\"\tname", OpenFDs: 3, NofileSoft: 1024, NofileHard: 4096, Cmdline: "x"}}}
	bare := model.Listener{Family: "ipv4", Address: "127.0.0.1", Port: 80, V6Only: &yes}
	reports := []*model.WatchReport{
		{Time: time.Date(2026, 11, 23, 21, 0, 0, 123456789, time.UTC), IntervalSeconds: 0.010234, Samples: 1,
			Listeners: []model.WatchListener{
				{Listener: full, PeakAcceptQueue: 9, PeakFill: 1, PeakSynQueue: 3, DropsPerSecond: 1e-9},
				{Listener: bare, DropsPerSecond: 123456.5},
			},
			Counters: map[string]uint64{"TcpExtListenOverflows": 5, "TcpExtListenDrops": 6},
			Rates:    map[string]float64{"TcpExtListenOverflows": 0.5, "TcpExtListenDrops": 2e21},
			Warnings: []string{"w\n1"}},
		{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)), Netns: &model.Namespace{Inode: 5, Name: "blue", Path: "/run/netns/blue"},
			Listeners: []model.WatchListener{{Listener: model.Listener{Family: "ipv4", Address: "0.0.0.0", Processes: []model.Process{}}}},
			Counters:  map[string]uint64{}, Rates: map[string]float64{}},
		{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Traced: true,
			Listeners: []model.WatchListener{{Listener: bare, Traced: &model.WatchTraced{IntervalHighWater: 5, IntervalHighWaterFill: 1, AcceptQueueHighWater: 5, HighWaterRose: true, HighWaterFill: 1,
				Enqueued: 7, Accepted: 5, OverflowsAckTime: 2, AcceptWait: model.WatchWait{Count: 5, P50: 0.067108864, P90: 0.067108864, P99: 0.067108864, MaxSinceStart: 0.05}}}},
			Counters: map[string]uint64{}, Rates: map[string]float64{}},
	}
	for i, r := range reports {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendReport(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(got) {
			t.Fatalf("report %d: invalid JSON: %s", i, got)
		}
		var w, g any
		json.Unmarshal(want, &w)
		json.Unmarshal(got, &g)
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("report %d (-encoding/json +appendReport):\n%s", i, diff)
		}
		if string(got) != string(want)+"\n" {
			t.Errorf("report %d bytes differ:\n got %s\nwant %s", i, got, want)
		}
	}
}
