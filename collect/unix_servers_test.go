package collect

import (
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
)

// unixListener is the one Unix listener on path, with its owners and
// their configured backlog.
func unixListener(t *testing.T, path string) model.Listener {
	t.Helper()
	snap := gather(t, Options{Paths: []string{path}, Owners: OwnersOn})
	if len(snap.Warnings) != 0 {
		t.Errorf("warnings as root: %q", snap.Warnings)
	}
	if len(snap.Listeners) != 1 {
		t.Fatalf("%d Unix listeners on %s, want 1: %+v", len(snap.Listeners), path, snap.Listeners)
	}
	return snap.Listeners[0]
}

func pidsOf(ps []model.Process) []int {
	var pids []int
	for _, p := range ps {
		pids = append(pids, p.PID)
	}
	slices.Sort(pids)
	return pids
}

// php-fpm behind nginx over a Unix socket with listen.backlog = 8. Under
// wrk the queue fills to backlog+1 and nginx logs connect()'s EAGAIN.
// With php-fpm's workers stopped and 5 connections queued in each pool,
// inspect's queue and backlog equal php-fpm's own status page for the TCP
// pool (listen queue len, max listen queue), while for the Unix pool
// php-fpm reports 0 for all three: it reads the queue through TCP_INFO,
// which a Unix socket does not have.
func TestPHPFPMBehindNginx(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	const backlog, queued = 8, 5
	fpm := nstest.StartPHPFPM(t, nstest.PHPFPMOpts{Backlog: backlog, Children: 2, TCP: true})
	ng := nstest.StartNginx(t, nstest.NginxOpts{Server: fpm.FastCGI("unix:" + fpm.Socket)})
	ngTCP := nstest.StartNginx(t, nstest.NginxOpts{Server: fpm.FastCGI(fpm.TCPAddr.String())})

	nstest.Eventually(t, 10*time.Second, "php-fpm's four workers", func() bool { return len(fpm.Workers(t)) == 4 })
	l := unixListener(t, fpm.Socket)
	if l.AcceptQueueMax != backlog || l.AcceptQueue != 0 || l.SocketType != "stream" {
		t.Errorf("idle pool: queue %d/%d, type %s; want 0/%d, stream", l.AcceptQueue, l.AcceptQueueMax, l.SocketType, backlog)
	}
	// The master and the pool's two workers hold the socket; not the tcp pool's.
	if got := pidsOf(l.Processes); len(got) != 3 || !slices.Contains(got, fpm.PID()) {
		t.Errorf("owners %v, want php-fpm's master %d and the pool's 2 workers", got, fpm.PID())
	}
	for _, p := range l.Processes {
		if p.NofileSoft == 0 || p.OpenFDs == 0 || len(p.Comm) < 7 || p.Comm[:7] != "php-fpm" {
			t.Errorf("owner %+v: want comm php-fpm*, its descriptors and limit", p)
		}
	}
	if c := l.ConfiguredBacklog; c == nil || c.Value != backlog || c.Program != "PHP-FPM" || !strings.HasPrefix(c.Source, fpm.Conf+":") {
		t.Errorf("configured backlog %+v, want PHP-FPM's listen.backlog = %d from %s", c, backlog, fpm.Conf)
	}

	// wrk through nginx: 2 workers sleeping 200 ms a request cannot keep
	// up with 64 connections, so the queue fills and connect() fails.
	errorLog := filepath.Join(ng.Dir, "error.log")
	const eagain = "(11: Resource temporarily unavailable) while connecting to upstream"
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		nstest.Wrk(t, "http://"+ng.Addr.String()+"/", 64, 4*time.Second)
	}()
	nstest.Eventually(t, 10*time.Second, "the pool's queue full (backlog+1) under wrk", func() bool {
		return unixListener(t, fpm.Socket).AcceptQueue == backlog+1
	})
	wg.Wait()
	if n := nstest.CountInFile(t, errorLog, eagain); n == 0 {
		t.Errorf("nginx logged no EAGAIN from connect() to %s under load", fpm.Socket)
	} else {
		t.Logf("nginx logged %d EAGAIN refusals", n)
	}

	// Stop the workers; queue 5 connections in each pool; let the master
	// sample; compare; let the workers go and read the status pages.
	nstest.Eventually(t, 20*time.Second, "the pool's queue to drain after wrk", func() bool {
		return unixListener(t, fpm.Socket).AcceptQueue == 0
	})
	workers := fpm.Workers(t)
	nstest.Stop(t, workers...)
	var clients []int
	for range queued {
		fd, err := nstest.ConnectUnix(t, unix.SOCK_STREAM, fpm.Socket)
		if err != nil {
			t.Fatalf("connect to the stopped pool: %v", err)
		}
		clients = append(clients, fd, nstest.Connect(t, fpm.TCPAddr))
	}
	var tcp model.Listener
	nstest.Eventually(t, 5*time.Second, "5 connections queued in each pool", func() bool {
		snap := gather(t, Options{Ports: []uint16{fpm.TCPAddr.Port()}})
		if len(snap.Listeners) != 1 {
			t.Fatalf("tcp pool: %+v", snap.Listeners)
		}
		tcp = snap.Listeners[0]
		l = unixListener(t, fpm.Socket)
		return l.AcceptQueue == queued && tcp.AcceptQueue == queued
	})
	fpm.WaitSample(t, "tcp")
	fpm.WaitSample(t, "www")
	for _, fd := range clients {
		_ = unix.Shutdown(fd, unix.SHUT_RDWR) // a worker reads EOF and moves on
	}
	for _, pid := range workers {
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}

	st := nstest.ReadFPMStatus(t, ngTCP.Addr)
	if got := st.Int(t, "listen queue len"); got != int64(tcp.AcceptQueueMax) || got != backlog {
		t.Errorf("tcp pool: php-fpm's listen queue len %d, inspect's backlog %d, listen.backlog %d", got, tcp.AcceptQueueMax, backlog)
	}
	if got := st.Int(t, "max listen queue"); got != int64(tcp.AcceptQueue) {
		t.Errorf("tcp pool: php-fpm's max listen queue %d, inspect's queue while the workers were stopped %d", got, tcp.AcceptQueue)
	}
	st = nstest.ReadFPMStatus(t, ng.Addr)
	for _, field := range []string{"listen queue", "max listen queue", "listen queue len"} {
		if got := st.Int(t, field); got != 0 {
			t.Errorf("unix pool: php-fpm's %q is %d: php-fpm now reads a Unix socket's queue, so compare it with inspect's %d/%d",
				field, got, l.AcceptQueue, l.AcceptQueueMax)
		}
	}
	if l.AcceptQueueMax != backlog {
		t.Errorf("unix pool: inspect's backlog %d, want listen.backlog %d", l.AcceptQueueMax, backlog)
	}
}

// gunicorn on a Unix socket with --backlog 16 and one sync worker held in
// a request: its queue fills to backlog+1, connect() then fails with
// EAGAIN, and inspect shows the full queue owned by the arbiter and the
// stalled worker.
func TestGunicornStalledWorker(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	const backlog = 16
	g := nstest.StartGunicorn(t, nstest.GunicornOpts{Backlog: backlog, Workers: 1})
	l := unixListener(t, g.Socket)
	if l.AcceptQueueMax != backlog || l.AcceptQueue != 0 {
		t.Errorf("idle: queue %d/%d, want 0/%d", l.AcceptQueue, l.AcceptQueueMax, backlog)
	}
	g.Stall(t)
	if n := nstest.FillUnix(t, unix.SOCK_STREAM, g.Socket, 100); n != backlog+1 {
		t.Errorf("%d connects queued before EAGAIN, want backlog+1 = %d", n, backlog+1)
	}
	l = unixListener(t, g.Socket)
	if l.AcceptQueue != backlog+1 || l.Fill != 1 {
		t.Errorf("stalled: queue %d/%d fill %v, want %d/%d fill 1", l.AcceptQueue, l.AcceptQueueMax, l.Fill, backlog+1, backlog)
	}
	if got := pidsOf(l.Processes); len(got) != 2 || !slices.Contains(got, g.PID()) {
		t.Errorf("owners %v, want gunicorn's arbiter %d and its worker", got, g.PID())
	}
	for _, p := range l.Processes {
		if p.Comm != "gunicorn" {
			t.Errorf("owner %d: comm %q, want gunicorn", p.PID, p.Comm)
		}
	}
	want := model.ConfiguredBacklog{Program: "gunicorn", Setting: "--backlog", Value: backlog, Source: "command line"}
	if l.ConfiguredBacklog == nil || *l.ConfiguredBacklog != want {
		t.Errorf("configured backlog %+v, want %+v", l.ConfiguredBacklog, want)
	}
}

// php-fpm reloaded (SIGUSR2, what systemctl reload sends) with a new
// listen.backlog keeps its listening socket and the old backlog: the
// configured backlog inspect reads then differs from the socket's.
func TestPHPFPMReloadKeepsBacklog(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	fpm := nstest.StartPHPFPM(t, nstest.PHPFPMOpts{Backlog: 8})
	before := unixListener(t, fpm.Socket)
	fpm.Reload(t, 64)
	after := unixListener(t, fpm.Socket)
	if after.Inode != before.Inode || after.AcceptQueueMax != 8 {
		t.Errorf("after reload: inode %d backlog %d, want the same socket (%d) with backlog 8", after.Inode, after.AcceptQueueMax, before.Inode)
	}
	if c := after.ConfiguredBacklog; c == nil || c.Value != 64 {
		t.Errorf("configured backlog %+v, want 64 from the reloaded configuration", c)
	}
}
