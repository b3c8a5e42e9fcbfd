package advise

import (
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/trace/tracetest"
)

// noBacklogFix fails when a finding about subject (or anywhere) tells the
// operator to raise a backlog or somaxconn, or says the owner "does not
// call accept()".
func noBacklogFix(t *testing.T, r Report, what string) {
	t.Helper()
	for _, f := range r.Findings {
		if f.Key == "net.core.somaxconn" || strings.Contains(f.Fix, "raise memcached's `-b") || strings.Contains(f.Fix, "backlog=") ||
			strings.Contains(f.Fix, "tcp-backlog") || strings.Contains(f.Reason, "does not call accept()") {
			t.Errorf("%s: %s %s: %s / %s", what, f.ID, f.Subject, f.Reason, f.Fix)
		}
	}
}

// Plain advise (no interval, no trace) on a memcached stopped with SIGSTOP
// while 30 clients fill its queue (backlog 8): the stopped process is the
// verdict, read from /proc, not "raise memcached's -b".
func TestAdviseStoppedMemcached(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	mc := nstest.StartMemcached(t, nstest.MemcachedOpts{Backlog: 8})
	nstest.Stop(t, mc.PID())
	for range 30 {
		nstest.Connect(t, mc.Addr)
	}
	nstest.Eventually(t, nstest.MinBackstop, "memcached's queue full", func() bool {
		l := listenerOn(t, mc.Addr)
		return l.AcceptQueue > l.AcceptQueueMax
	})
	r := runJSON(t, realOptions(mc.Addr.Port()))
	consistent(t, r)
	fs := advise.FindingsFor(r.Findings, mc.Addr.String())
	if len(fs) != 1 || fs[0].ID != "listener-not-accepting" || fs[0].Severity != advise.Critical {
		t.Fatalf("findings about memcached: %v, want one critical listener-not-accepting", ids(r))
	}
	if f := fs[0]; !strings.Contains(f.Reason, "memcached[") || !strings.Contains(f.Reason, "is stopped (state T") ||
		!strings.Contains(f.Fix, "kill -CONT") {
		t.Errorf("verdict %+v does not say memcached is stopped", f)
	}
	noBacklogFix(t, r, "stopped memcached")
}

// A PostgreSQL postmaster stopped with SIGSTOP while clients connect,
// resumed before advise --trace's window ends: the stall names the state
// it had during the stall, T (stopped), not the S (sleeping) it is in when
// the report is made, and says it runs again.
func TestAdviseTracedStallOfAStoppedPostmaster(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	tracetest.Require(t)
	pg := nstest.StartPostgres(t, nstest.PostgresOpts{MaxConnections: 20})
	nstest.Stop(t, pg.PID())
	o := tracedOptions(pg.Addr.Port(), 4*time.Second, func() {
		for range 5 {
			nstest.Connect(t, pg.Addr)
		}
		start := time.Now()
		nstest.Eventually(t, nstest.MinBackstop, "the stall to last 2s", func() bool { return time.Since(start) >= 2*time.Second })
		if err := syscall.Kill(pg.PID(), syscall.SIGCONT); err != nil {
			t.Error(err)
		}
	})
	r := runJSON(t, o)
	consistent(t, r)
	subject := pg.Addr.String()
	f, ok := advise.FindingByID(r.Findings, "traced-stall", subject)
	if !ok {
		t.Fatalf("no traced-stall for %s in %v", subject, ids(r))
	}
	if !strings.Contains(f.Reason, "postgres[") || !strings.Contains(f.Reason, "state during the stall: T (stopped)") ||
		!strings.Contains(f.Reason, "It runs again since") {
		t.Errorf("stall %+v, want the postmaster's state during the stall (T) and that it runs again", f)
	}
	if strings.Contains(f.Reason, "S (sleeping)") && !strings.Contains(f.Reason, "is S (sleeping) now") {
		t.Errorf("stall %q gives the state at report time as the state during the stall", f.Reason)
	}
}

// nginx whose workers may hold 16 descriptors, under 40 keep-alive
// clients: the workers call accept() and get EMFILE, and connections wait.
// The verdict is descriptor exhaustion with nginx's own fix
// (worker_rlimit_nofile), one per listener, whatever the queue and stall
// rules also saw; never "does not call accept()".
func TestAdviseTracedEMFILEVerdictWithNginx(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	tracetest.Require(t)
	ng := nstest.StartNginx(t, nstest.NginxOpts{Workers: 1, Extra: "worker_rlimit_nofile 16;"})
	r := runJSON(t, tracedOptions(ng.Addr.Port(), 3*time.Second, func() { nstest.OpenRequests(t, ng.Addr, 40) }))
	consistent(t, r)
	emfile(t, r, ng.Addr.String(), "nginx[", "worker_rlimit_nofile")
}

// redis-server whose descriptor limit is lowered to 24 after it started
// (below what maxclients asked for) with 40 clients connecting: it calls
// accept() in a loop, failing with EMFILE. The verdict is descriptor
// exhaustion with Redis's own fix, not an owner that does not accept.
func TestAdviseTracedEMFILEVerdictWithRedis(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	tracetest.Require(t)
	rd := nstest.StartRedis(t, nstest.RedisOpts{})
	if err := unix.Prlimit(rd.PID(), unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 24, Max: 24}, nil); err != nil {
		t.Fatal(err)
	}
	r := runJSON(t, tracedOptions(rd.Addr.Port(), 3*time.Second, func() {
		for range 40 {
			nstest.Connect(t, rd.Addr)
		}
	}))
	consistent(t, r)
	emfile(t, r, rd.Addr.String(), "redis-server[", "maxclients + 32")
}

// emfile checks the one verdict about subject is the traced EMFILE of the
// owner named by who, with the owner's own fix.
func emfile(t *testing.T, r Report, subject, who, ownFix string) {
	t.Helper()
	var verdicts []advise.Finding
	for _, f := range r.Findings {
		if f.Subject == subject || f.Listener == subject {
			verdicts = append(verdicts, f)
		}
	}
	if len(verdicts) != 1 || verdicts[0].ID != "traced-accept-errors" {
		t.Fatalf("findings about %s: %v, want one traced-accept-errors verdict", subject, ids(r))
	}
	f := verdicts[0]
	if f.Severity != advise.Critical || !strings.HasPrefix(f.Reason, who) || !strings.Contains(f.Reason, "got EMFILE") ||
		!strings.Contains(f.Reason, "descriptor exhaustion") || !strings.Contains(f.Fix, ownFix) || !strings.Contains(f.Fix, "backlogctl rlimit set --pid") {
		t.Errorf("verdict %+v, want %s's EMFILE and its own fix (%s)", f, who, ownFix)
	}
	noBacklogFix(t, r, subject)
}

var _ = collect.Options{}
var _ = model.Traced{}

// HAProxy with maxconn 20 in front of a backend that holds every
// connection, under 30 clients: it accepts 20 and stops, and 10 wait in
// its queue. advise (plain, and traced) names maxconn, read from the
// configuration file on its command line, as the cause; never "raise
// HAProxy's backlog" nor "a bigger backlog would only hold ..." alone.
func TestAdviseHAProxyAtMaxconn(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	_, backend := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 1000, nstest.ListenOpts{})
	hp := nstest.StartHAProxy(t, nstest.HAProxyOpts{Maxconn: 20, Backend: backend})
	for range 30 {
		nstest.Connect(t, hp.Addr)
	}
	nstest.Eventually(t, nstest.MinBackstop, "HAProxy to hold 20 and queue 10", func() bool {
		return listenerOn(t, hp.Addr).AcceptQueue == 10
	})
	check := func(what string, r Report) {
		t.Helper()
		consistent(t, r)
		fs := advise.FindingsFor(r.Findings, hp.Addr.String())
		if len(fs) != 1 || fs[0].ID != "owner-at-connection-cap" {
			t.Fatalf("%s: findings about HAProxy: %v, want one owner-at-connection-cap verdict", what, ids(r))
		}
		f := fs[0]
		if !strings.Contains(f.Reason, "holds 20 connections") || !strings.Contains(f.Reason, "maxconn (global) 20") ||
			!strings.Contains(f.Reason, "haproxy.cfg:2") || !strings.Contains(f.Reason, "10 wait in its accept queue") ||
			!strings.Contains(f.Fix, "raise `maxconn`") || f.Evidence["connections"] != 20 {
			t.Errorf("%s: verdict %+v, want maxconn named as the cause", what, f)
		}
		for _, f := range r.Findings {
			if strings.Contains(f.Fix, "`backlog ") || f.Key == "net.core.somaxconn" {
				t.Errorf("%s: %s recommends a bigger backlog: %s", what, f.ID, f.Fix)
			}
		}
	}
	check("advise", runJSON(t, realOptions(hp.Addr.Port())))
	tracetest.Require(t)
	check("advise --trace", runJSON(t, tracedOptions(hp.Addr.Port(), 1500*time.Millisecond, func() {})))
}

// PostgreSQL with max_connections 20 listens with 2 × MaxBackends = 84 (20
// + 3 autovacuum workers + 1 + 8 worker processes + 10 WAL senders), which
// backlogctl reads from the cluster's configuration as the kernel shows
// it. Its queue overflowing (postmaster stopped while 120 clients connect,
// then resumed), the fix says so and does not recommend raising
// max_connections; it says how to read the settings.
func TestAdvisePostgresBacklogFacts(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	pg := nstest.StartPostgres(t, nstest.PostgresOpts{MaxConnections: 20})
	m, err := collect.Snapshot(collect.Options{Ports: []uint16{pg.Addr.Port()}, Owners: collect.OwnersOn})
	if err != nil {
		t.Fatal(err)
	}
	l := m.Namespaces[0].Listeners[0]
	if c := l.ConfiguredBacklog; l.AcceptQueueMax != 84 || c == nil || c.Value != 84 || c.Setting != "2 × MaxBackends" ||
		c.Detail != "MaxBackends 42 = max_connections 20 + autovacuum_max_workers 3 + 1 + max_worker_processes 8 + max_wal_senders 10" ||
		!strings.HasSuffix(c.Source, "postgresql.conf:"+strconv.Itoa(lines(t, pg.Dir+"/data/postgresql.conf"))) {
		t.Fatalf("postgres listens with backlog %d; configured %+v: want 84 = 2 × MaxBackends, read from its postgresql.conf's last line", l.AcceptQueueMax, c)
	}
	r := during(t, pg.Addr.Port(), func() {
		pg.Signal(t, syscall.SIGSTOP)
		for range 120 {
			nstest.Connect(t, pg.Addr)
		}
		nstest.Eventually(t, nstest.MinBackstop, "a full accept queue", func() bool {
			l := listenerOn(t, pg.Addr)
			return l.AcceptQueue > l.AcceptQueueMax && l.DropCount() > 0
		})
		pg.Signal(t, syscall.SIGCONT)
	})
	consistent(t, r)
	f := mustFind(t, r, "listener-backlog-too-small", pg.Addr.String())
	for _, want := range []string{"asks listen() for 2 × MaxBackends = 84, MaxBackends 42 = max_connections 20", "2 × MaxBackends (max_connections + autovacuum_max_workers + 1 + max_worker_processes + max_wal_senders",
		"raising max_connections for a longer queue is poor advice", "SHOW max_connections", "postgres -C max_connections"} {
		if !strings.Contains(f.Reason+f.Fix, want) {
			t.Errorf("finding %s does not say %q:\nwhy: %s\nfix: %s", f.ID, want, f.Reason, f.Fix)
		}
	}
	for _, f := range r.Findings {
		if strings.Contains(f.Reason+f.Fix, "2 × max_connections") || strings.Contains(f.Fix, "raise max_connections") {
			t.Errorf("%s: %s / %s", f.ID, f.Reason, f.Fix)
		}
	}
}

// lines counts the lines of a file.
func lines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}
