package advise

import (
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
)

var loopback = netip.MustParseAddrPort("127.0.0.1:0")

// listenerOn reads the one listener on ep's port.
func listenerOn(t *testing.T, ep netip.AddrPort) model.Listener {
	t.Helper()
	ls, err := inspect.Listeners(nil, []uint16{ep.Port()})
	if err != nil || len(ls) == 0 {
		t.Fatalf("listener on %s: %v (%d found)", ep, err, len(ls))
	}
	return ls[0]
}

// during runs advise with --interval whose wait between the samples is act.
func during(t *testing.T, port uint16, act func()) Report {
	t.Helper()
	o := realOptions(port)
	o.StateDir = t.TempDir()
	o.Interval, o.IntervalSet = 300*time.Millisecond, true
	o.Collect = func(co collect.Options, so collect.SampleOptions) ([]*model.Samples, []string, error) {
		so.Sleep = func(d time.Duration) {
			act()
			time.Sleep(d)
		}
		return collect.Samples(co, so)
	}
	return runJSON(t, o)
}

// mustFind returns the finding id about subject or fails listing them all.
func mustFind(t *testing.T, r Report, id, subject string) advise.Finding {
	t.Helper()
	f, ok := advise.FindingByID(r.Findings, id, subject)
	if !ok {
		t.Fatalf("no %s for %s in %v", id, subject, ids(r))
	}
	return f
}

// noBacklogAdvice fails when any finding about subject recommends a bigger
// backlog or somaxconn.
func noBacklogAdvice(t *testing.T, r Report, subject string) {
	t.Helper()
	for _, f := range advise.FindingsFor(r.Findings, subject) {
		if f.ID == "listener-backlog-too-small" || f.ID == "somaxconn-clamps-listener" || f.Key == "net.core.somaxconn" {
			t.Errorf("a bigger backlog recommended for %s: %s: %s", subject, f.ID, f.Fix)
		}
	}
}

// Item 1: a TCP_DEFER_ACCEPT listener drops the bare final ACK of clients
// that send nothing: its drop count rises, but it is no overflow and no
// backlog is recommended.
func TestAdviseDeferAcceptDropsAreNotOverflows(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	fd, ep := nstest.Listen(t, loopback, 511, nstest.ListenOpts{})
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, 5); err != nil {
		t.Fatal(err)
	}
	r := during(t, ep.Port(), func() {
		for i := 0; i < 10; i++ {
			nstest.Connect(t, ep)
		}
		nstest.Eventually(t, 5*time.Second, "deferred ACKs dropped", func() bool {
			return listenerOn(t, ep).DropCount() >= 10
		})
	})
	f := mustFind(t, r, "listener-drops-defer-accept", ep.String())
	if f.Evidence["TcpExtTCPDeferAcceptDrop_delta"] < 10 || f.Evidence["TcpExtListenOverflows_delta"] != 0 {
		t.Errorf("evidence %v: want TCPDeferAcceptDrop rising and no ListenOverflows", f.Evidence)
	}
	if !strings.Contains(f.Reason, "TCP_DEFER_ACCEPT") || !strings.Contains(f.Reason, "not an overflow") {
		t.Errorf("reason %q does not name TCP_DEFER_ACCEPT as the cause", f.Reason)
	}
	noBacklogAdvice(t, r, ep.String())
}

// Item 1: with syncookies off, SYNs dropped at a full SYN queue raise the
// listener's drop count; the fix is syncookies, not the accept queue.
func TestAdviseSynQueueDropsAreNotOverflows(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	nstest.SetSysctl(t, "net.ipv4.tcp_syncookies", 0)
	_, ep := nstest.Listen(t, loopback, 4, nstest.ListenOpts{})
	nstest.DropFinalACK(t, ep.Port())
	r := during(t, ep.Port(), func() {
		for i := 0; i < 20; i++ {
			nstest.Connect(t, ep)
		}
		nstest.Eventually(t, 5*time.Second, "SYNs dropped", func() bool {
			return listenerOn(t, ep).DropCount() > 0
		})
	})
	f := mustFind(t, r, "listener-drops-syn-queue-full", ep.String())
	if f.Key != "net.ipv4.tcp_syncookies" || f.Recommended == nil || *f.Recommended != 1 {
		t.Errorf("finding %s recommends %s=%v, want net.ipv4.tcp_syncookies=1", f.ID, f.Key, f.Recommended)
	}
	noBacklogAdvice(t, r, ep.String())
}

// Item 2: an SO_REUSEPORT group's SYN-queue cap is the sum of its members'
// backlogs (4 + 64), not the first member's times the group size.
func TestAdviseReuseportGroupSynCapIsTheSum(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	rp := nstest.ListenOpts{Reuseport: true}
	_, ep := nstest.Listen(t, loopback, 4, rp)
	nstest.Listen(t, ep, 64, rp)
	nstest.DropFinalACK(t, ep.Port())
	for i := 0; i < 12; i++ {
		nstest.Connect(t, ep)
	}
	nstest.Eventually(t, 5*time.Second, "at least 8 half-open requests", func() bool {
		return listenerOn(t, ep).SynQueue >= 8
	})
	r := runJSON(t, realOptions(ep.Port()))
	if f, ok := advise.FindingByID(r.Findings, "syn-queue-full", ep.String()); ok {
		t.Errorf("SYN queue of %d against a group cap of 68 judged full: %s", int(f.Evidence["syn_queue"]), f.Reason)
	}
}

// Item 3: a listener with backlog 0 holds one request on this kernel (qlen >
// backlog since 6.12.10): one half-open request fills its SYN queue.
func TestAdviseBacklogZeroSynQueueFull(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	_, ep := nstest.Listen(t, loopback, 0, nstest.ListenOpts{})
	nstest.DropFinalACK(t, ep.Port())
	nstest.Connect(t, ep)
	nstest.Eventually(t, 5*time.Second, "a half-open request", func() bool {
		return listenerOn(t, ep).SynQueue == 1
	})
	r := runJSON(t, realOptions(ep.Port()))
	f := mustFind(t, r, "syn-queue-full", ep.String())
	if f.Evidence["backlog"] != 0 || !strings.Contains(f.Reason, "this kernel counts the SYN queue full") {
		t.Errorf("finding %v: %q; want backlog 0 and the kernel's rule named", f.Evidence, f.Reason)
	}
}

// Item 4: in a child network namespace the counters started when it was
// created, and findings built on them say so.
func TestAdviseCountersSinceNamespaceCreated(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	ep := overflow(t, 2)
	nstest.Eventually(t, 5*time.Second, "ListenOverflows to count", func() bool {
		c, err := inspect.ReadCounters("/proc")
		return err == nil && c["TcpExtListenOverflows"] > 0
	})
	r := runJSON(t, realOptions(ep.Port()))
	f := mustFind(t, r, "listen-overflows-since-boot", "TcpExtListenOverflows")
	if !strings.Contains(f.Reason, "since this network namespace was created") || strings.Contains(f.Reason, "since boot") {
		t.Errorf("reason %q: want totals since the namespace was created, not since boot", f.Reason)
	}
	if !r.ChildNetns {
		t.Error("report does not say the namespace is a child one")
	}
}

// Item 10: nginx stopped with SIGSTOP holds its queue: advise --interval
// says it is not accepting and that it is stopped, and recommends no bigger
// backlog; after SIGCONT the finding is gone.
func TestAdviseStoppedNginxIsNotAccepting(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	srv := nstest.StartNginx(t, nstest.NginxOpts{})
	srv.Signal(t, syscall.SIGSTOP)
	for i := 0; i < 50; i++ {
		nstest.Connect(t, srv.Addr)
	}
	nstest.Eventually(t, 5*time.Second, "50 queued connections", func() bool {
		return listenerOn(t, srv.Addr).AcceptQueue == 50
	})
	r := during(t, srv.Addr.Port(), func() {})
	f := mustFind(t, r, "listener-not-accepting", srv.Addr.String())
	if !strings.Contains(f.Reason, "not accepting") || !strings.Contains(f.Reason, "is stopped (state T") ||
		!strings.Contains(f.Reason, "nginx["+strconv.Itoa(srv.PID())+"]") {
		t.Errorf("reason %q: want nginx[%d] not accepting and stopped", f.Reason, srv.PID())
	}
	if !strings.Contains(f.Fix, "kill -CONT") {
		t.Errorf("fix %q does not say to resume it", f.Fix)
	}
	noBacklogAdvice(t, r, srv.Addr.String())

	srv.Signal(t, syscall.SIGCONT)
	nstest.Eventually(t, 10*time.Second, "nginx to drain its queue", func() bool {
		return listenerOn(t, srv.Addr).AcceptQueue == 0
	})
	r = during(t, srv.Addr.Port(), func() {})
	if _, ok := advise.FindingByID(r.Findings, "listener-not-accepting", srv.Addr.String()); ok {
		t.Errorf("after SIGCONT still not accepting: %v", ids(r))
	}
}

// Item 11: nginx whose worker is held at 64 descriptors fails accept() with
// EMFILE while its queue is far from full: advise names the descriptor
// limit, with backlogctl rlimit set for the master and workers and nginx's
// worker_rlimit_nofile.
func TestAdviseNginxAtNofileWithoutFullQueue(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	srv := nstest.StartNginx(t, nstest.NginxOpts{Extra: "worker_rlimit_nofile 64;"})
	master, workers := nstest.NginxPIDs(t, srv)
	nstest.OpenRequests(t, srv.Addr, 200)
	nstest.Eventually(t, 10*time.Second, "the worker to reach 64 descriptors", func() bool {
		m, err := collect.Snapshot(collect.Options{Ports: []uint16{srv.Addr.Port()}, Owners: collect.OwnersOn})
		if err != nil || len(m.Namespaces[0].Listeners) == 0 {
			return false
		}
		s := m.Namespaces[0].Snapshot
		for _, p := range s.Listeners[0].Processes {
			if p.PID == workers[0] {
				return p.OpenFDs >= 62
			}
		}
		return false
	})
	l := listenerOn(t, srv.Addr)
	if l.AcceptQueue > l.AcceptQueueMax {
		t.Fatalf("accept queue full (%d of %d): the test wants a queue that is not full", l.AcceptQueue, l.AcceptQueueMax)
	}
	r := runJSON(t, realOptions(srv.Addr.Port()))
	f := mustFind(t, r, "nofile-near-limit", advise.PIDSubject(workers[0]))
	if f.Severity == advise.Info {
		t.Errorf("severity %s, want warning or critical", f.Severity)
	}
	want := "backlogctl rlimit set --pid " + strconv.Itoa(master)
	if !strings.Contains(f.Fix, want) || !strings.Contains(f.Fix, "worker_rlimit_nofile") || strings.Contains(f.Fix, "prlimit") {
		t.Errorf("fix %q: want %q (the master first), worker_rlimit_nofile, no raw prlimit", f.Fix, want)
	}
}

// Item 12: the fix names where each real server sets its backlog. Each
// server is stopped while 40 clients fill its queue past overflowing, then
// resumed before the second sample, so what advise judges is a running
// server whose queue overflowed (a stopped one is judged not accepting).
func TestAdviseServerAwareFixes(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	nstest.SetSysctl(t, "net.core.somaxconn", 16)
	fill := func(srv *nstest.Server) Report {
		t.Helper()
		return during(t, srv.Addr.Port(), func() {
			srv.Signal(t, syscall.SIGSTOP)
			for i := 0; i < 40; i++ {
				nstest.Connect(t, srv.Addr)
			}
			nstest.Eventually(t, 5*time.Second, "a full accept queue on "+srv.Addr.String(), func() bool {
				l := listenerOn(t, srv.Addr)
				return l.AcceptQueue > l.AcceptQueueMax && l.DropCount() > 0
			})
			srv.Signal(t, syscall.SIGCONT)
		})
	}

	nginx := nstest.StartNginx(t, nstest.NginxOpts{Backlog: 8})
	f := mustFind(t, fill(nginx), "listener-backlog-too-small", nginx.Addr.String())
	if !strings.Contains(f.Fix, "backlog=16") || !strings.Contains(f.Fix, "nginx -s reload") {
		t.Errorf("nginx fix %q: want listen ... backlog= and a reload", f.Fix)
	}

	port := nstest.FreePort(t)
	py := nstest.StartPython(t, port, "-m", "http.server", "--bind", "127.0.0.1", strconv.Itoa(int(port)))
	f = mustFind(t, fill(py), "listener-backlog-too-small", py.Addr.String())
	if !strings.Contains(f.Fix, "request_queue_size") || f.Evidence["backlog"] != 5 {
		t.Errorf("python fix %q (backlog %v): want socketserver's request_queue_size and backlog 5", f.Fix, f.Evidence["backlog"])
	}

	gosrv := nstest.StartGoServer(t)
	f = mustFind(t, fill(gosrv), "somaxconn-clamps-listener", gosrv.Addr.String())
	if !strings.Contains(f.Fix, "Go's net.Listen reads somaxconn") {
		t.Errorf("Go fix %q: want Go's net.Listen reading somaxconn at listen time", f.Fix)
	}
}
