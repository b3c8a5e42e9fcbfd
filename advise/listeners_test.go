package advise

import (
	"strings"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/model"
)

func TestListenerRules(t *testing.T) {
	listenerIDs := []string{"somaxconn-clamps-listener", "listener-backlog-too-small", "accept-queue-full-at-nofile", "somaxconn-lowered-since-listen",
		"listener-drops-history", "listener-drops-defer-accept", "listener-drops-syn-queue-full", "listener-drops-syn-backlog", "listener-drops-cause-unknown"}
	tests := []ruleCase{
		{
			name: "clamped listener with a full queue: raise somaxconn",
			in:   once(with(setSysctl("net.core.somaxconn", 8), listening(lst(9000, 9, 8, p32(42))))),
			want: []summary{{"somaxconn-clamps-listener", Warning, "127.0.0.1:9000", "net.core.somaxconn", p64(8), p64(4096)}},
		},
		{
			name: "clamped listener at 4096 overflowing: double it",
			in:   once(with(listening(lst(80, 4097, 4096, nil)))),
			want: []summary{{"somaxconn-clamps-listener", Warning, "127.0.0.1:80", "net.core.somaxconn", p64(4096), p64(8192)}},
		},
		{
			name: "clamped listener, queue not full, no drops: nothing",
			in:   once(with(setSysctl("net.core.somaxconn", 8), listening(lst(9000, 3, 8, p32(0))))),
			want: []summary{},
		},
		{
			name: "clamped listener with drops only since creation: the clamp is still a finding tune acts on",
			in:   once(with(setSysctl("net.core.somaxconn", 8), listening(lst(9000, 0, 8, p32(7))))),
			want: []summary{{"somaxconn-clamps-listener", Warning, "127.0.0.1:9000", "net.core.somaxconn", p64(8), p64(4096)}},
		},
		{
			name: "clamped at the somaxconn backlogctl raised it to, drops since creation: history, nothing to raise again",
			in: func() Input {
				in := once(with(listening(lst(9000, 0, 4096, p32(7)))))
				in.Changes = []model.SysctlChange{{Key: "net.core.somaxconn", From: 128, To: 4096, At: time.Unix(1e9, 0)}}
				return in
			}(),
			want: []summary{{"listener-drops-history", Info, "127.0.0.1:9000", "", nil, nil}},
		},
		{
			name: "below somaxconn with drops only since creation: history",
			in:   once(with(listening(lst(9000, 0, 511, p32(7))))),
			want: []summary{{"listener-drops-history", Info, "127.0.0.1:9000", "", nil, nil}},
		},
		{
			name: "backlog below somaxconn overflowing: the program's backlog, not somaxconn",
			in:   once(with(listening(lst(9001, 5, 4, p32(10), proc(7, "nginx", 10, 1024, 4096))))),
			want: []summary{{"listener-backlog-too-small", Warning, "127.0.0.1:9001", "", p64(4), p64(4096)}},
		},
		{
			name: "drops during the interval with an empty queue and ListenOverflows rising: warning",
			in: twice(with(listening(lst(9001, 0, 511, p32(10)))),
				with(counter("TcpExtListenOverflows", 10), counter("TcpExtListenDrops", 10), listening(lst(9001, 0, 511, p32(30))))),
			want: []summary{{"listener-backlog-too-small", Warning, "127.0.0.1:9001", "", p64(511), p64(4096)}},
		},
		{
			name: "drops with only TCPDeferAcceptDrop rising: not an overflow, nothing to size",
			in: twice(with(counter("TcpExtTCPDeferAcceptDrop", 0), listening(lst(9001, 0, 511, p32(10)))),
				with(counter("TcpExtTCPDeferAcceptDrop", 20), listening(lst(9001, 0, 511, p32(30))))),
			want: []summary{{"listener-drops-defer-accept", Info, "127.0.0.1:9001", "", nil, nil}},
		},
		{
			name: "drops with TCPReqQFullDrop rising, syncookies off: syncookies, not the backlog",
			in: twice(with(setSysctl("net.ipv4.tcp_syncookies", 0), listening(lst(9001, 0, 511, p32(10)))),
				with(setSysctl("net.ipv4.tcp_syncookies", 0), counter("TcpExtTCPReqQFullDrop", 20), counter("TcpExtListenDrops", 20), listening(lst(9001, 0, 511, p32(30))))),
			want: []summary{{"listener-drops-syn-queue-full", Warning, "127.0.0.1:9001", "net.ipv4.tcp_syncookies", p64(0), p64(1)}},
		},
		{
			name: "ListenDrops beyond overflows with syncookies off: the 3/4 rule",
			in: twice(with(setSysctl("net.ipv4.tcp_syncookies", 0), listening(lst(9001, 0, 511, p32(10)))),
				with(setSysctl("net.ipv4.tcp_syncookies", 0), counter("TcpExtListenDrops", 20), listening(lst(9001, 0, 511, p32(30))))),
			want: []summary{{"listener-drops-syn-backlog", Warning, "127.0.0.1:9001", "net.ipv4.tcp_syncookies", p64(0), p64(1)}},
		},
		{
			name: "overflows and deferred ACKs both rising, queue never full: cannot tell",
			in: twice(with(counter("TcpExtTCPDeferAcceptDrop", 0), listening(lst(9001, 0, 511, p32(10)))),
				with(counter("TcpExtTCPDeferAcceptDrop", 5), counter("TcpExtListenOverflows", 5), counter("TcpExtListenDrops", 5), listening(lst(9001, 0, 511, p32(30))))),
			want: []summary{{"listener-drops-cause-unknown", Warning, "127.0.0.1:9001", "", nil, nil}},
		},
		{
			name: "drops with no counter rising: unknown cause, not an overflow",
			in: twice(with(listening(lst(9001, 0, 511, p32(10)))),
				with(listening(lst(9001, 0, 511, p32(30))))),
			want: []summary{{"listener-drops-cause-unknown", Info, "127.0.0.1:9001", "", nil, nil}},
		},
		{
			name: "old drops that did not change during the interval: history, nothing to change",
			in: twice(with(listening(lst(9001, 0, 511, p32(10)))),
				with(listening(lst(9001, 0, 511, p32(10))))),
			want: []summary{{"listener-drops-history", Info, "127.0.0.1:9001", "", nil, nil}},
		},
		{
			name: "a clamp with drops since creation and none during the interval: still the clamp finding",
			in: twice(with(setSysctl("net.core.somaxconn", 128), listening(lst(9001, 0, 128, p32(10)))),
				with(setSysctl("net.core.somaxconn", 128), listening(lst(9001, 0, 128, p32(10))))),
			want: []summary{{"somaxconn-clamps-listener", Warning, "127.0.0.1:9001", "net.core.somaxconn", p64(128), p64(4096)}},
		},
		{
			name: "pinned full at both samples and dropping, still accepting: critical",
			in: twice(with(setSysctl("net.core.somaxconn", 128), listening(lst(80, 129, 128, p32(10)))),
				with(setSysctl("net.core.somaxconn", 128), counter("TcpPassiveOpens", 500), counter("TcpExtListenOverflows", 40), counter("TcpExtListenDrops", 40), listening(lst(80, 129, 128, p32(90))))),
			want: []summary{{"somaxconn-clamps-listener", Critical, "127.0.0.1:80", "net.core.somaxconn", p64(128), p64(4096)}},
		},
		{
			name: "owner at its descriptor limit: the limit, not the backlog",
			in:   once(with(setSysctl("net.core.somaxconn", 128), listening(lst(80, 129, 128, p32(5), proc(42, "java", 1024, 1024, 4096))))),
			want: []summary{{"accept-queue-full-at-nofile", Critical, "pid:42", "", p64(1024), p64(65536)}},
		},
		{
			name: "owner far from its limit: backlog finding",
			in:   once(with(setSysctl("net.core.somaxconn", 128), listening(lst(80, 129, 128, nil, proc(42, "java", 100, 1024, 4096))))),
			want: []summary{{"somaxconn-clamps-listener", Warning, "127.0.0.1:80", "net.core.somaxconn", p64(128), p64(4096)}},
		},
		{
			name: "descriptor recommendation is capped by fs.nr_open",
			in: once(with(setSysctl("fs.nr_open", 50000),
				listening(lst(80, 129, 128, nil, proc(42, "java", 1023, 1024, 1024))))),
			want: []summary{{"accept-queue-full-at-nofile", Critical, "pid:42", "", p64(1024), p64(50000)}},
		},
		{
			name: "somaxconn lowered after listen(): a restart would clamp",
			in:   once(with(setSysctl("net.core.somaxconn", 128), listening(lst(80, 0, 4096, p32(0))))),
			want: []summary{{"somaxconn-lowered-since-listen", Info, "127.0.0.1:80", "net.core.somaxconn", p64(128), p64(4096)}},
		},
		{
			name: "somaxconn not visible: cannot blame it",
			in:   once(with(without("net.core.somaxconn"), listening(lst(80, 9, 8, nil)))),
			want: []summary{{"listener-backlog-too-small", Warning, "127.0.0.1:80", "", p64(8), nil}},
		},
	}
	runRuleCases(t, listenerIDs, tests)
}

func TestClampedFindingSaysRestart(t *testing.T) {
	fs := Advise(once(with(setSysctl("net.core.somaxconn", 8), listening(lst(9000, 9, 8, p32(42))))))
	f, ok := FindingByID(fs, "somaxconn-clamps-listener", "127.0.0.1:9000")
	if !ok {
		t.Fatalf("no somaxconn-clamps-listener in %+v", fs)
	}
	for _, phrase := range []string{"listen() again", "restart"} {
		if !strings.Contains(f.Fix, phrase) {
			t.Errorf("fix %q does not say %q", f.Fix, phrase)
		}
	}
	if strings.Contains(f.Reason, "since boot") {
		t.Errorf("a queue full now is not a total since boot: %q", f.Reason)
	}
	if f.Evidence["accept_queue"] != 9 || f.Evidence["backlog"] != 8 || f.Evidence["drops_since_created"] != 42 {
		t.Errorf("evidence = %v", f.Evidence)
	}
}

// With sizing above somaxconn, the program's backlog fix says somaxconn must
// follow, or listen() would clamp the new backlog.
func TestProgramFixWithSizingAboveSomaxconn(t *testing.T) {
	in := once(with(setSysctl("net.core.somaxconn", 1024), listening(lst(80, 512, 511, nil, proc(3, "nginx", 1, 1024, 1024)))))
	in.Sizing = &Sizing{Rate: 4000, AcceptLatency: time.Second} // 8000 -> 8192
	f, ok := FindingByID(Advise(in), "listener-backlog-too-small", "127.0.0.1:80")
	if !ok {
		t.Fatal("no listener-backlog-too-small")
	}
	if *f.Recommended != 8192 || !strings.Contains(f.Fix, "backlog=8192") || !strings.Contains(f.Fix, "somaxconn (1024) must also be raised to 8192") {
		t.Errorf("recommended %d, fix %q", *f.Recommended, f.Fix)
	}
}

func TestNofileFixNamesSystemdUnit(t *testing.T) {
	in := once(with(setSysctl("net.core.somaxconn", 128), listening(lst(80, 129, 128, nil, proc(42, "nginx", 1024, 1024, 524288)))))
	in.Units = map[int]string{42: "nginx.service"}
	f, ok := FindingByID(Advise(in), "accept-queue-full-at-nofile", "pid:42")
	if !ok {
		t.Fatal("no accept-queue-full-at-nofile finding")
	}
	if !strings.Contains(f.Fix, "backlogctl rlimit set --systemd-unit nginx.service --nofile 65536:65536 --write") || !strings.Contains(f.Fix, "worker_rlimit_nofile 65536") {
		t.Errorf("fix %q does not name the LimitNOFILE= drop-in for nginx.service and worker_rlimit_nofile", f.Fix)
	}
	if strings.Contains(f.Fix, "prlimit") {
		t.Errorf("fix %q uses raw prlimit, not backlogctl rlimit set", f.Fix)
	}
	if f.Listener != "127.0.0.1:80" {
		t.Errorf("listener = %q, want 127.0.0.1:80", f.Listener)
	}

	in.Units = nil
	f, _ = FindingByID(Advise(in), "accept-queue-full-at-nofile", "pid:42")
	if strings.Contains(f.Fix, "systemctl") || !strings.Contains(f.Fix, "backlogctl rlimit set --pid 42 --nofile 65536") {
		t.Errorf("without a unit, fix %q should use backlogctl rlimit set --pid and not systemctl", f.Fix)
	}
}

func TestProgramFix(t *testing.T) {
	tests := []struct {
		comm, cmdline string
		want          string
	}{
		{"nginx", "nginx: master process /usr/sbin/nginx", "backlog=4096"},
		{"haproxy", "/usr/sbin/haproxy -f /etc/haproxy/haproxy.cfg", "HAProxy's `backlog 4096`"},
		{"node", "node server.js", "server.listen({port, backlog: 4096})"},
		{"java", "java -jar app.jar", "acceptCount"},
		{"redis-server", "redis-server *:6379", "tcp-backlog 4096"},
		{"postgres", "/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql", "no backlog setting"},
		{"apache2", "/usr/sbin/apache2 -k start", "ListenBacklog 4096"},
		{"php-fpm8.2", "php-fpm: master process", "listen.backlog = 4096"},
		{"python3", "/usr/bin/python3 /usr/local/bin/gunicorn app:app", "--backlog 4096"},
		{"caddy", "caddy run", "Go's net package"},
		{"python3.11", "python3 -m http.server 8000", "request_queue_size = 4096"},
		{"uwsgi", "uwsgi --ini app.ini", "--listen 4096"},
		{"envoy", "envoy -c envoy.yaml", "tcp_backlog_size: 4096"},
		{"java", "java -cp . Server", "new ServerSocket(port, 4096)"},
		{"goserver", "/srv/goserver", "Go's net package"},
		{"myserver", "/opt/myserver", "the backlog myserver passes to listen()"},
	}
	for _, tt := range tests {
		t.Run(tt.comm, func(t *testing.T) {
			p := model.Process{PID: 1, Comm: tt.comm, Cmdline: tt.cmdline}
			if tt.comm == "goserver" {
				p.GoVersion = "go1.24.0" // recognised by its build information
			}
			l := lst(80, 0, 4, nil, p)
			if got := programFix(l, 4096); !strings.Contains(got, tt.want) {
				t.Errorf("programFix = %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

func TestNrOpenFindings(t *testing.T) {
	tests := []ruleCase{
		{
			name: "hard limit above nr_open: impossible to set again",
			in:   once(with(setSysctl("fs.nr_open", 65536), listening(lst(80, 0, 511, nil, proc(9, "nginx", 10, 1024, 1048576))))),
			want: []summary{{"nofile-hard-above-nr-open", Warning, "pid:9", "fs.nr_open", p64(65536), p64(1048576)}},
		},
		{
			name: "hard limit equal to nr_open: fine",
			in:   once(with(listening(lst(80, 0, 511, nil, proc(9, "nginx", 10, 1024, 1048576))))),
			want: []summary{},
		},
	}
	runRuleCases(t, []string{"nofile-hard-above-nr-open"}, tests)
}
