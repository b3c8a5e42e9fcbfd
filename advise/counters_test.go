package advise

import (
	"testing"

	"github.com/backlogctl/backlogctl/model"
)

func u64(v uint64) *uint64 { return &v }

func TestCounterRules(t *testing.T) {
	ids := []string{"listen-overflows-since-boot", "listen-overflows-in-bursts", "netdev-backlog-drops"}
	tests := []ruleCase{
		{
			name: "overflows since boot: info only",
			in:   once(with(counter("TcpExtListenOverflows", 12345))),
			want: []summary{{"listen-overflows-since-boot", Info, "TcpExtListenOverflows", "", nil, nil}},
		},
		{
			name: "overflows that did not change during the interval: nothing",
			in:   twice(with(counter("TcpExtListenOverflows", 12345)), with(counter("TcpExtListenOverflows", 12345))),
			want: []summary{},
		},
		{
			name: "overflows rising with every queue empty: bursts",
			in: twice(with(counter("TcpExtListenOverflows", 100), listening(lst(80, 0, 4096, nil))),
				with(counter("TcpExtListenOverflows", 200), listening(lst(80, 1, 4096, nil)))),
			want: []summary{{"listen-overflows-in-bursts", Warning, "TcpExtListenOverflows", "", nil, nil}},
		},
		{
			name: "overflows rising at a full listener: the listener finding explains it",
			in: twice(with(counter("TcpExtListenOverflows", 100), listening(lst(80, 4097, 4096, nil))),
				with(counter("TcpExtListenOverflows", 200), listening(lst(80, 4097, 4096, nil)))),
			want: []summary{},
		},
		{
			name: "counters unread in the first sample: no change can be judged",
			in: twice(with(func(s *model.Snapshot) { s.Counters = map[string]uint64{} }),
				with(counter("TcpExtListenOverflows", 12345))),
			want: []summary{},
		},
		{
			name: "softnet drops since boot: info",
			in:   Input{Now: model.Sample{Snapshot: host(), SoftnetDropped: u64(77)}},
			want: []summary{{"netdev-backlog-drops", Info, "net.core.netdev_max_backlog", "net.core.netdev_max_backlog", p64(1000), p64(2048)}},
		},
		{
			name: "softnet drops during the interval: warning",
			in: Input{Now: model.Sample{Snapshot: with(setSysctl("net.core.netdev_max_backlog", 4096)), SoftnetDropped: u64(90)},
				Before: &model.Sample{Snapshot: host(), SoftnetDropped: u64(77)}, Interval: 1e9},
			want: []summary{{"netdev-backlog-drops", Warning, "net.core.netdev_max_backlog", "net.core.netdev_max_backlog", p64(4096), p64(8192)}},
		},
		{
			name: "softnet drops in a child namespace: no value to recommend",
			in: Input{Now: model.Sample{Snapshot: with(without("net.core.netdev_max_backlog")), SoftnetDropped: u64(90)},
				Before: &model.Sample{Snapshot: host(), SoftnetDropped: u64(77)}, Interval: 1e9},
			want: []summary{{"netdev-backlog-drops", Warning, "net.core.netdev_max_backlog", "net.core.netdev_max_backlog", nil, nil}},
		},
		{
			name: "softnet counter went backwards (32-bit wrap): counts from zero",
			in: Input{Now: model.Sample{Snapshot: host(), SoftnetDropped: u64(3)},
				Before: &model.Sample{Snapshot: host(), SoftnetDropped: u64(1 << 32)}, Interval: 1e9},
			want: []summary{{"netdev-backlog-drops", Warning, "net.core.netdev_max_backlog", "net.core.netdev_max_backlog", p64(1000), p64(2048)}},
		},
	}
	runRuleCases(t, ids, tests)
}

// Without an interval, nothing counted since boot may be more than info:
// only what is true right now (a full queue, a setting) can warn.
func TestTotalsSinceBootAreInfoOnly(t *testing.T) {
	s := with(
		counter("TcpExtListenOverflows", 1e9), counter("TcpExtListenDrops", 1e9),
		counter("TcpExtTCPReqQFullDrop", 1e9), counter("TcpExtTCPReqQFullDoCookies", 1e9),
		setSysctl("net.core.somaxconn", 128),
		listening(lst(80, 3, 128, p32(1e9)), lst(81, 0, 16, p32(1e9)),
			lst(82, 0, 128, p32(5), proc(5, "nginx", 1024, 1024, 4096))),
	)
	got := Advise(Input{Now: model.Sample{Snapshot: s, SoftnetDropped: u64(1e9)}})
	if len(got) == 0 {
		t.Fatal("no findings at all; want info findings for the totals")
	}
	// What is true now may warn: a clamp still in place (tune acts on it)
	// and an owner at its descriptor limit.
	current := map[string]bool{"somaxconn-clamps-listener": true, "nofile-near-limit": true}
	for _, f := range got {
		if f.Severity != Info && !current[f.ID] {
			t.Errorf("%s %s is %s from totals since boot; want info", f.ID, f.Subject, f.Severity)
		}
		if f.ID == "listener-drops-history" && f.Recommended != nil {
			t.Errorf("history recommends a value: %+v", f)
		}
	}
	if _, ok := FindingByID(got, "listener-drops-history", "127.0.0.1:81"); !ok {
		t.Errorf("backlog 16 below somaxconn with drops since creation: no listener-drops-history in %v", summarize(got))
	}
	// The same totals, rising during an interval with ListenOverflows, do warn.
	before := with(setSysctl("net.core.somaxconn", 128), listening(lst(80, 3, 128, p32(0))))
	now := with(setSysctl("net.core.somaxconn", 128), counter("TcpExtListenOverflows", 25), counter("TcpExtListenDrops", 25), counter("TcpPassiveOpens", 100), listening(lst(80, 3, 128, p32(50))))
	if w := Worst(Advise(twice(before, now))); w != Warning {
		t.Errorf("drops rising during the interval: worst = %q, want warning", w)
	}
}
