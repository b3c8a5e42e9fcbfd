package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/trace/tracetest"
)

// traceRun is `backlogctl trace -o json` running in the background.
type traceRun struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	lines  []model.TraceReport
	stderr bytes.Buffer
	done   chan struct{}
}

// startTrace runs the binary's trace with args and returns once its first
// report says the programs are attached.
func startTrace(t *testing.T, args ...string) *traceRun {
	t.Helper()
	r := &traceRun{cmd: exec.Command(bin, append([]string{"trace", "-o", "json"}, args...)...), done: make(chan struct{})}
	out, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	r.cmd.Stderr = &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		<-r.done
	})
	go func() {
		defer close(r.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			var rep model.TraceReport
			if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
				continue
			}
			r.mu.Lock()
			r.lines = append(r.lines, rep)
			r.mu.Unlock()
		}
		r.cmd.Wait()
	}()
	nstest.Eventually(t, 30*time.Second, "trace's first report", func() bool { return r.last() != nil })
	return r
}

// last is the latest report, nil before the first.
func (r *traceRun) last() *model.TraceReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lines) == 0 {
		return nil
	}
	return &r.lines[len(r.lines)-1]
}

// stop ends trace with SIGTERM and returns its final report, taken after
// the signal: it counts everything before it.
func (r *traceRun) stop(t *testing.T) *model.TraceReport {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-r.done
	if st := r.cmd.ProcessState; st == nil || !st.Success() {
		t.Fatalf("trace after SIGTERM: %v\n%s", st, r.stderr.String())
	}
	return r.last()
}

// listener is the report's listener on path (a Unix one) or port.
func listenerIn(t *testing.T, r *model.TraceReport, path string, port uint16) model.TraceReportListener {
	t.Helper()
	for _, l := range r.Listeners {
		if path != "" && l.Path == path || path == "" && l.Port == port {
			return l
		}
	}
	t.Fatalf("no listener on %q/%d in trace's report: %+v", path, port, r.Listeners)
	return model.TraceReportListener{}
}

// The test: php-fpm behind nginx over a Unix socket with
// listen.backlog = 8, under wrk, traced by the binary. The refusals trace
// counts at the socket are exactly the lines nginx logged for them
// ("connect() to unix:... failed (11: Resource temporarily unavailable)"),
// every one by an nginx worker; the connections it counts accepted are
// exactly the rise of the pool's own "accepted conn"; its high water is
// backlog+1. php-fpm's status page reads the queue with TCP_INFO, which a
// Unix socket lacks, so for that pool it reports 0 for listen queue, max
// listen queue and listen queue len (PHP 8.2); the same php-fpm's TCP pool,
// with its workers stopped and 5 connections queued, has the status page's
// max listen queue equal to the traced high water and its listen queue len
// equal to the traced backlog.
func TestTracePHPFPMBehindNginx(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	tracetest.Require(t)
	const backlog, queued = 8, 5
	fpm := nstest.StartPHPFPM(t, nstest.PHPFPMOpts{Backlog: backlog, Children: 2, TCP: true})
	ng := nstest.StartNginx(t, nstest.NginxOpts{Server: fpm.FastCGI("unix:" + fpm.Socket)})
	ngTCP := nstest.StartNginx(t, nstest.NginxOpts{Server: fpm.FastCGI(fpm.TCPAddr.String())})
	nstest.Eventually(t, 10*time.Second, "php-fpm's four workers", func() bool { return len(fpm.Workers(t)) == 4 })
	before := nstest.ReadFPMStatus(t, ng.Addr)
	tr := startTrace(t, "--path", fpm.Socket, "--port", strconv.Itoa(int(fpm.TCPAddr.Port())), "--interval", "500ms")

	nstest.Wrk(t, "http://"+ng.Addr.String()+"/", 64, 4*time.Second)
	nstest.Eventually(t, 20*time.Second, "the pool's queue to drain after wrk", func() bool {
		l := tr.last()
		return l != nil && l.Time.After(time.Now().Add(-time.Second)) && listenerIn(t, l, fpm.Socket, 0).AcceptQueue == 0
	})
	// The TCP pool: workers stopped, 5 connections queued, sampled by the master.
	workers := fpm.Workers(t)
	nstest.Stop(t, workers...)
	var clients []int
	for range queued {
		clients = append(clients, nstest.Connect(t, fpm.TCPAddr))
	}
	nstest.Eventually(t, 10*time.Second, "5 queued in the TCP pool", func() bool {
		l := tr.last()
		return listenerIn(t, l, "", fpm.TCPAddr.Port()).AcceptQueue == queued
	})
	fpm.WaitSample(t, "tcp")
	for _, fd := range clients {
		_ = unix.Shutdown(fd, unix.SHUT_RDWR)
	}
	for _, pid := range workers {
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
	tcpStatus := nstest.ReadFPMStatus(t, ngTCP.Addr)
	after := nstest.ReadFPMStatus(t, ng.Addr)
	final := tr.stop(t)

	errorLog := filepath.Join(ng.Dir, "error.log")
	logged := nstest.CountInFile(t, errorLog, "connect() to unix:"+fpm.Socket+" failed (11: Resource temporarily unavailable)")
	u := listenerIn(t, final, fpm.Socket, 0)
	if u.UnixConnects == nil {
		t.Fatalf("the Unix listener has no connect figures in full mode: %+v", u)
	}
	t.Logf("nginx logged %d EAGAIN refusals; trace counted %d (%+v); accepted %d", logged, u.ConnectEAGAIN, u.ConnectRefusals, u.Accepted)
	if logged == 0 || u.ConnectEAGAIN != uint64(logged) {
		t.Errorf("trace counted %d refused connects, nginx logged %d (want equal, and some)", u.ConnectEAGAIN, logged)
	}
	var byNginx uint64
	for _, r := range u.ConnectRefusals {
		if r.Comm == "nginx" {
			byNginx += r.Count
		}
	}
	if byNginx != u.ConnectEAGAIN {
		t.Errorf("refusals by process %+v: want all %d by nginx's workers", u.ConnectRefusals, u.ConnectEAGAIN)
	}
	if u.Backlog != backlog || u.AcceptQueueHighWater != backlog+1 || u.SocketType != "stream" {
		t.Errorf("unix pool: backlog %d, high water %d, type %s; want %d, %d (full), stream", u.Backlog, u.AcceptQueueHighWater, u.SocketType, backlog, backlog+1)
	}
	if rise := after.Int(t, "accepted conn") - before.Int(t, "accepted conn"); rise != int64(u.Accepted) || u.Accepted == 0 {
		t.Errorf("unix pool: php-fpm's accepted conn rose %d, trace counted %d accepted", rise, u.Accepted)
	}
	for _, field := range []string{"listen queue", "max listen queue", "listen queue len"} {
		if got := after.Int(t, field); got != 0 {
			t.Errorf("unix pool: php-fpm's %q is %d: php-fpm now reads a Unix socket's queue, so compare it with trace's (high water %d, backlog %d)",
				field, got, u.AcceptQueueHighWater, u.Backlog)
		}
	}
	tcp := listenerIn(t, final, "", fpm.TCPAddr.Port())
	if got := tcpStatus.Int(t, "max listen queue"); got != int64(tcp.AcceptQueueHighWater) || got != queued {
		t.Errorf("tcp pool: php-fpm's max listen queue %d, trace's high water %d, queued %d (want equal)", got, tcp.AcceptQueueHighWater, queued)
	}
	if got := tcpStatus.Int(t, "listen queue len"); got != int64(tcp.Backlog) || got != backlog {
		t.Errorf("tcp pool: php-fpm's listen queue len %d, trace's backlog %d, listen.backlog %d (want equal)", got, tcp.Backlog, backlog)
	}
	if tcp.UnixConnects != nil || !strings.Contains(strings.Join(final.Exact, ","), "connect_eagain") {
		t.Errorf("a TCP listener with Unix connect figures, or connect_eagain not listed exact: %+v %v", tcp.UnixConnects, final.Exact)
	}
}

// gunicorn on a Unix socket with one sync worker, stopped (SIGSTOP): the
// connections that queue are held with no accept(), which trace reports as
// a stall at the socket with the worker's state, and advise --trace as
// traced-stall about the path; connects past backlog+1 are refused.
func TestTraceGunicornStalledWorker(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	tracetest.Require(t)
	const backlog = 4
	g := nstest.StartGunicorn(t, nstest.GunicornOpts{Backlog: backlog, Workers: 1})
	tr := startTrace(t, "--path", g.Socket, "--interval", "300ms", "--stall", "500ms")
	workers := g.Workers(t)
	nstest.Stop(t, workers...)
	if n := nstest.FillUnix(t, unix.SOCK_STREAM, g.Socket, 100); n != backlog+1 {
		t.Fatalf("%d connects queued, want backlog+1 = %d", n, backlog+1)
	}
	var l model.TraceReportListener
	nstest.Eventually(t, 10*time.Second, "a stall at gunicorn's socket", func() bool {
		l = listenerIn(t, tr.last(), g.Socket, 0)
		return l.Stalled
	})
	adv := run(t, bin, "advise", "--trace", "2s", "--path", g.Socket, "-o", "json")
	final := tr.stop(t)
	l = listenerIn(t, final, g.Socket, 0)
	var stopped bool
	for _, p := range l.Processes {
		stopped = stopped || slices.Contains(workers, p.PID) && p.State == "T (stopped)"
	}
	if !l.Stalled || l.StalledSeconds < 0.5 || l.AcceptQueue != backlog+1 || l.AcceptQueueHighWater != backlog+1 || !stopped {
		t.Errorf("stalled %v for %.2fs, queue %d, high water %d, processes %+v; want a stall of 0.5s or more, %d queued and seen, a worker of %v stopped",
			l.Stalled, l.StalledSeconds, l.AcceptQueue, l.AcceptQueueHighWater, l.Processes, backlog+1, workers)
	}
	if l.UnixConnects == nil || l.ConnectEAGAIN != 1 {
		t.Errorf("refused connects %+v, want FillUnix's one", l.UnixConnects)
	}
	if !strings.Contains(adv.stdout, `"id": "traced-stall"`) || !strings.Contains(adv.stdout, `"subject": "`+g.Socket+`"`) {
		t.Errorf("advise --trace names no traced-stall at %s (exit %d):\n%s%s", g.Socket, adv.code, adv.stdout, adv.stderr)
	}
}
