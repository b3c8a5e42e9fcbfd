package advise

import (
	"testing"

	"github.com/backlogctl/backlogctl/model"
)

func TestSynRules(t *testing.T) {
	ids := []string{"syncookies-off", "syncookies-always", "tcp-max-syn-backlog-below-backlog", "abort-on-overflow-on", "syn-queue-overflow-cookies"}
	wide := lst(443, 0, 4096, nil)
	wide.SynQueue = 1000
	tests := []ruleCase{
		{
			name: "defaults: nothing",
			in:   once(with(listening(wide))),
			want: []summary{},
		},
		{
			name: "syncookies off: recommend 1",
			in:   once(with(setSysctl("net.ipv4.tcp_syncookies", 0))),
			want: []summary{{"syncookies-off", Warning, "net.ipv4.tcp_syncookies", "net.ipv4.tcp_syncookies", p64(0), p64(1)}},
		},
		{
			name: "syncookies off and SYN-queue drops during the interval: critical",
			in: twice(with(setSysctl("net.ipv4.tcp_syncookies", 0), counter("TcpExtTCPReqQFullDrop", 5)),
				with(setSysctl("net.ipv4.tcp_syncookies", 0), counter("TcpExtTCPReqQFullDrop", 50))),
			want: []summary{{"syncookies-off", Critical, "net.ipv4.tcp_syncookies", "net.ipv4.tcp_syncookies", p64(0), p64(1)}},
		},
		{
			name: "syncookies off since boot only: still a warning for the setting, not critical",
			in:   once(with(setSysctl("net.ipv4.tcp_syncookies", 0), counter("TcpExtTCPReqQFullDrop", 50))),
			want: []summary{{"syncookies-off", Warning, "net.ipv4.tcp_syncookies", "net.ipv4.tcp_syncookies", p64(0), p64(1)}},
		},
		{
			name: "syncookies off, backlog wider than 3/4 of tcp_max_syn_backlog, SYN queue deep: raise both",
			in:   once(with(setSysctl("net.ipv4.tcp_syncookies", 0), listening(wide))),
			want: []summary{
				{"syncookies-off", Warning, "net.ipv4.tcp_syncookies", "net.ipv4.tcp_syncookies", p64(0), p64(1)},
				{"tcp-max-syn-backlog-below-backlog", Warning, "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_max_syn_backlog", p64(512), p64(8192)},
			},
		},
		{
			name: "syncookies on: tcp_max_syn_backlog is never recommended, however small",
			in: once(with(setSysctl("net.ipv4.tcp_max_syn_backlog", 16), listening(wide),
				counter("TcpExtTCPReqQFullDoCookies", 10))),
			want: []summary{{"syn-queue-overflow-cookies", Info, "TcpExtTCPReqQFullDoCookies", "", nil, nil}},
		},
		{
			name: "cookies sent during the interval in mode 1: warning",
			in: twice(with(counter("TcpExtTCPReqQFullDoCookies", 10)),
				with(counter("TcpExtTCPReqQFullDoCookies", 25))),
			want: []summary{{"syn-queue-overflow-cookies", Warning, "TcpExtTCPReqQFullDoCookies", "", nil, nil}},
		},
		{
			name: "mode 2: DoCookies counts every SYN, so no overflow finding",
			in: twice(with(setSysctl("net.ipv4.tcp_syncookies", 2), counter("TcpExtTCPReqQFullDoCookies", 10)),
				with(setSysctl("net.ipv4.tcp_syncookies", 2), counter("TcpExtTCPReqQFullDoCookies", 9000))),
			want: []summary{{"syncookies-always", Warning, "net.ipv4.tcp_syncookies", "net.ipv4.tcp_syncookies", p64(2), p64(1)}},
		},
		{
			name: "abort on overflow: recommend 0",
			in:   once(with(setSysctl("net.ipv4.tcp_abort_on_overflow", 1))),
			want: []summary{{"abort-on-overflow-on", Warning, "net.ipv4.tcp_abort_on_overflow", "net.ipv4.tcp_abort_on_overflow", p64(1), p64(0)}},
		},
		{
			name: "syncookies not visible: nothing",
			in:   once(with(without("net.ipv4.tcp_syncookies"), listening(wide))),
			want: []summary{},
		},
	}
	runRuleCases(t, ids, tests)
}

// KERNEL.md §7: raising tcp_max_syn_backlog alone does nothing while
// syncookies are on, so no input with syncookies on may plan it.
func TestNeverPlansSynBacklogWithCookiesOn(t *testing.T) {
	wide := lst(443, 4097, 4096, p32(100))
	wide.SynQueue = 4096
	for _, mode := range []int64{1, 2, 3} {
		in := twice(with(setSysctl("net.ipv4.tcp_syncookies", mode), setSysctl("net.ipv4.tcp_max_syn_backlog", 16), listening(lst(443, 0, 4096, p32(0))), counter("TcpExtTCPReqQFullDoCookies", 1)),
			with(setSysctl("net.ipv4.tcp_syncookies", mode), setSysctl("net.ipv4.tcp_max_syn_backlog", 16), listening(wide), counter("TcpExtTCPReqQFullDoCookies", 1e6), counter("TcpExtListenOverflows", 1000)))
		in.Sizing = &Sizing{Rate: 1e5, AcceptLatency: 1e9}
		for _, c := range PlanFindings(Advise(in)).Changes {
			if c.Key == "net.ipv4.tcp_max_syn_backlog" {
				t.Errorf("syncookies=%d: planned %+v", mode, c)
			}
		}
	}
}

func TestKernelVersion(t *testing.T) {
	tests := []struct {
		release      string
		major, minor int
		ok, before44 bool
	}{
		{"6.18.44", 6, 18, true, false},
		{"4.19.0-27-amd64", 4, 19, true, false},
		{"4.4.0", 4, 4, true, false},
		{"4.3.6", 4, 3, true, true},
		{"3.10.0-1160.el7.x86_64", 3, 10, true, true},
		{"5.15rc1", 5, 15, true, false},
		{"", 0, 0, false, false},
		{"linux", 0, 0, false, false},
	}
	for _, tt := range tests {
		major, minor, _, ok := kernelVersion(tt.release)
		if major != tt.major || minor != tt.minor || ok != tt.ok || before44(tt.release) != tt.before44 {
			t.Errorf("%q: got %d.%d ok=%v before44=%v", tt.release, major, minor, ok, before44(tt.release))
		}
	}
}

func TestSynQueueFull(t *testing.T) {
	synq := func(port uint16, syn, backlog uint32) model.Listener {
		l := lst(port, 0, backlog, nil)
		l.SynQueue = syn
		return l
	}
	group := func(syn uint32) []model.Listener {
		a, b := synq(443, syn, 128), synq(443, syn, 128)
		b.Inode = 444
		for _, l := range []*model.Listener{&a, &b} {
			l.SynQueueShared, l.ReuseportGroup, l.ReuseportSize = true, 1, 2
		}
		return []model.Listener{a, b}
	}
	kernel := func(release string) func(*model.Snapshot) {
		return func(s *model.Snapshot) { s.Kernel = release }
	}
	mixed := func(syn uint32) []model.Listener {
		g := group(syn)
		g[1].AcceptQueueMax = 512 // members may have their own backlogs
		return g
	}
	runRuleCases(t, []string{"syn-queue-full"}, []ruleCase{
		{
			name: "SYN queue below the backlog: nothing",
			in:   once(with(listening(synq(80, 100, 128)))),
			want: []summary{},
		},
		{
			name: "6.18: at the backlog is not full yet (qlen > backlog since 6.12.10)",
			in:   once(with(listening(synq(80, 128, 128)))),
			want: []summary{},
		},
		{
			name: "6.18: above the backlog, cookies on: info, the program's backlog",
			in:   once(with(listening(synq(80, 129, 128)))),
			want: []summary{{"syn-queue-full", Info, "127.0.0.1:80", "", p64(128), p64(4096)}},
		},
		{
			name: "6.1.124: at the backlog is full (qlen >= backlog)",
			in:   once(with(kernel("6.1.124"), listening(synq(80, 128, 128)))),
			want: []summary{{"syn-queue-full", Info, "127.0.0.1:80", "", p64(128), p64(4096)}},
		},
		{
			name: "6.1.125: at the backlog is not full",
			in:   once(with(kernel("6.1.125-1-amd64"), listening(synq(80, 128, 128)))),
			want: []summary{},
		},
		{
			name: "6.12.9: at the backlog is full",
			in:   once(with(kernel("6.12.9"), listening(synq(80, 128, 128)))),
			want: []summary{{"syn-queue-full", Info, "127.0.0.1:80", "", p64(128), p64(4096)}},
		},
		{
			name: "backlog 0 on 6.18: one request fills it",
			in:   once(with(listening(synq(80, 1, 0)))),
			want: []summary{{"syn-queue-full", Info, "127.0.0.1:80", "", p64(0), p64(4096)}},
		},
		{
			name: "backlog 0 before the fix: always full",
			in:   once(with(kernel("5.10.0"), listening(synq(80, 0, 0)))),
			want: []summary{{"syn-queue-full", Info, "127.0.0.1:80", "", p64(0), p64(4096)}},
		},
		{
			name: "clamped listener, cookies off: warning, somaxconn",
			in:   once(with(setSysctl("net.ipv4.tcp_syncookies", 0), setSysctl("net.core.somaxconn", 128), listening(synq(80, 129, 128)))),
			want: []summary{{"syn-queue-full", Warning, "127.0.0.1:80", "net.core.somaxconn", p64(128), p64(4096)}},
		},
		{
			name: "SO_REUSEPORT group: judged once against the combined backlog",
			in:   once(with(listening(group(200)...))),
			want: []summary{},
		},
		{
			name: "SO_REUSEPORT group full",
			in:   once(with(listening(group(257)...))),
			want: []summary{{"syn-queue-full", Info, "127.0.0.1:443", "", p64(128), p64(4096)}},
		},
		{
			name: "SO_REUSEPORT members with different backlogs: the sum, not the first times the size",
			in:   once(with(listening(mixed(300)...))),
			want: []summary{},
		},
		{
			name: "syncookies=2 keeps no request sockets to count",
			in:   once(with(setSysctl("net.ipv4.tcp_syncookies", 2), listening(synq(80, 129, 128)))),
			want: []summary{},
		},
		{
			name: "before 4.4 the SYN queue had another cap",
			in:   once(with(kernel("3.10.0"), listening(synq(80, 129, 128)))),
			want: []summary{},
		},
	})
}

func TestSynQueueRule(t *testing.T) {
	for _, tt := range []struct {
		release string
		want    synFullRule
	}{
		{"6.18.44", synFullAbove}, {"6.13", synFullAbove}, {"7.0.1", synFullAbove},
		{"6.12.10", synFullAbove}, {"6.12.9", synFullAtLeast},
		{"6.1.125", synFullAbove}, {"6.1.124-1-amd64", synFullAtLeast},
		{"6.6.71", synFullAtLeast}, {"6.6.72", synFullUnknown},
		{"5.15.0-91-generic", synFullAtLeast}, {"5.15.180", synFullUnknown},
		{"6.8.0-45-generic", synFullAtLeast}, {"4.19.0", synFullAtLeast},
		{"garbage", synFullUnknown},
	} {
		if got := synQueueRule(tt.release); got != tt.want {
			t.Errorf("synQueueRule(%q) = %v, want %v", tt.release, got, tt.want)
		}
	}
}
