package trace

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/nstest"
)

// unixReport reads the maps and returns the evidence of the Unix listener
// on name, and the refusals of connects to name.
func (tr *tracing) unixReport(name string) (*ListenerEvidence, []ConnectRefusal) {
	tr.t.Helper()
	ev, err := tr.c.Snapshot()
	if err != nil {
		tr.t.Fatal(err)
	}
	ls, err := inspect.UnixListeners(nil, []string{name})
	if err != nil || len(ls) != 1 {
		tr.t.Fatalf("Unix listeners on %s: %v %v", name, ls, err)
	}
	le := ev.Listeners[Key{Netns: tr.ns, Cookie: ls[0].Cookie}]
	if le == nil {
		le = &ListenerEvidence{Drops: map[string]uint64{}}
	}
	var refusals []ConnectRefusal
	for _, r := range ev.ConnectRefusals {
		if string(r.SunPath) == name || name[0] == '@' && len(r.SunPath) > 0 && r.SunPath[0] == 0 && string(r.SunPath[1:]) == name[1:] {
			refusals = append(refusals, r)
		}
	}
	return le, refusals
}

// acceptUnix takes n connections from the Unix listener fd.
func acceptUnix(t *testing.T, fd, n int) {
	t.Helper()
	for i := range n {
		c, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
		if err != nil {
			t.Fatalf("accept %d of %d: %v", i+1, n, err)
		}
		t.Cleanup(func() { unix.Close(c) })
	}
}

// A Unix stream listener with backlog 4 that does not accept: 5
// connections fill its queue (backlog+1, unix_recvq_full) and the next 7
// non-blocking connects fail with EAGAIN, counted exactly for this process
// and path; then every queued connection is accepted, each wait matched to
// its own connection.
func TestUnixListenerQueueAndRefusals(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	const backlog, refused = 4, 7
	tr := startTracing(t)
	path := filepath.Join(t.TempDir(), "app.sock")
	fd := nstest.ListenUnix(t, unix.SOCK_STREAM, path, backlog)
	if n := nstest.FillUnix(t, unix.SOCK_STREAM, path, 100); n != backlog+1 {
		t.Fatalf("%d connects queued before EAGAIN, want %d", n, backlog+1)
	}
	for range refused - 1 { // FillUnix's last connect was the first refusal
		if _, err := nstest.ConnectUnix(t, unix.SOCK_STREAM, path); err != unix.EAGAIN {
			t.Fatalf("connect to the full listener: %v, want EAGAIN", err)
		}
	}
	l, refusals := tr.unixReport(path)
	if !l.Unix || l.Enqueued != backlog+1 || l.AcceptQueueHighWater != backlog+1 || l.MaxBacklog != backlog || l.Accepted != 0 || !l.Filled() {
		t.Errorf("full listener: unix %v, enqueued %d, high water %d, backlog %d, accepted %d, filled %v; want true, %d, %d, %d, 0, true",
			l.Unix, l.Enqueued, l.AcceptQueueHighWater, l.MaxBacklog, l.Accepted, l.Filled(), backlog+1, backlog+1, backlog)
	}
	if l.SynQueueHighWater != 0 || len(l.Drops) != 0 {
		t.Errorf("a Unix listener has no SYN queue and no drops: syn high water %d, drops %v", l.SynQueueHighWater, l.Drops)
	}
	want := []ConnectRefusal{{Netns: tr.ns, PID: os.Getpid(), Type: unix.SOCK_STREAM, SunPath: []byte(path), Count: refused}}
	if !slices.EqualFunc(refusals, want, refusalEqual) {
		t.Errorf("refusals %+v, want %+v", refusals, want)
	}

	acceptUnix(t, fd, backlog+1)
	l, _ = tr.unixReport(path)
	if l.Accepted != backlog+1 || l.AcceptWait.Count != backlog+1 || l.AcceptWait.Unmatched != 0 || l.LastAcceptPID != os.Getpid() {
		t.Errorf("after accepting all: accepted %d, waits %d (unmatched %d), last accept by %d; want %d, %d (0), %d",
			l.Accepted, l.AcceptWait.Count, l.AcceptWait.Unmatched, l.LastAcceptPID, backlog+1, backlog+1, os.Getpid())
	}
	if l.ConnectBlocked.Count != 0 {
		t.Errorf("non-blocking connects counted as blocked: %+v", l.ConnectBlocked)
	}
}

// An abstract seqpacket listener: refusals name it by its abstract name in
// the connecting socket's namespace, with the socket type.
func TestUnixAbstractSeqpacketRefusals(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	tr := startTracing(t)
	const name = "@backlogctl-trace-test"
	nstest.ListenUnix(t, unix.SOCK_SEQPACKET, name, 1)
	if n := nstest.FillUnix(t, unix.SOCK_SEQPACKET, name, 10); n != 2 {
		t.Fatalf("%d connects queued, want 2", n)
	}
	l, refusals := tr.unixReport(name)
	if !l.Unix || l.Enqueued != 2 || l.AcceptQueueHighWater != 2 {
		t.Errorf("unix %v, enqueued %d, high water %d; want true, 2, 2", l.Unix, l.Enqueued, l.AcceptQueueHighWater)
	}
	want := []ConnectRefusal{{Netns: tr.ns, PID: os.Getpid(), Type: unix.SOCK_SEQPACKET, SunPath: append([]byte{0}, name[1:]...), Count: 1}}
	if !slices.EqualFunc(refusals, want, refusalEqual) {
		t.Errorf("refusals %+v, want %+v", refusals, want)
	}
}

// connect()'s entry program is attached at the first read that finds a
// Unix listener full, not before. Then a blocking connect to the full
// listener sleeps until accept() makes room: counted once as blocked, for
// at least as long as it was seen asleep.
func TestUnixBlockedConnect(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	tr := startTracing(t)
	enterAttached := func() bool {
		return slices.ContainsFunc(tr.c.Hooks(), func(h Hook) bool { return h.Program == bpfProgBlConnectEnter })
	}
	path := filepath.Join(t.TempDir(), "app.sock")
	fd := nstest.ListenUnix(t, unix.SOCK_STREAM, path, 1)
	if n := nstest.FillUnix(t, unix.SOCK_STREAM, path, 1); n != 1 {
		t.Fatalf("%d connects queued, want 1", n)
	}
	if tr.unixReport(path); enterAttached() {
		t.Fatalf("connect()'s entry attached before any Unix listener was full: %+v", tr.c.Hooks())
	}
	if n := nstest.FillUnix(t, unix.SOCK_STREAM, path, 1); n != 1 {
		t.Fatalf("%d connects queued, want 1", n)
	}
	if _, err := tr.c.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if !enterAttached() {
		t.Fatalf("connect()'s entry not attached after a read found the listener full: %+v", tr.c.Hooks())
	}
	done := nstest.BlockedConnectUnix(t, unix.SOCK_STREAM, path)
	// The connect is asleep now (it entered connect() before this): it
	// sleeps at least until the accept below makes room. Timed from here,
	// not from before the connecting thread was started, whose start a busy
	// machine can delay by more than the sleep itself.
	start := time.Now()
	time.Sleep(20 * time.Millisecond)
	asleep := time.Since(start)
	acceptUnix(t, fd, 1)
	if err := <-done; err != nil {
		t.Fatalf("the blocked connect: %v", err)
	}
	l, refusals := tr.unixReport(path)
	if b := l.ConnectBlocked; b.Count != 1 || b.MaxNs != b.SumNs || time.Duration(b.MaxNs) < asleep {
		t.Errorf("blocked connects %+v: want one, of at least %v", b, asleep)
	}
	if l.Enqueued != 3 || l.Accepted != 1 || len(refusals) != 0 {
		t.Errorf("enqueued %d, accepted %d, refusals %+v; want 3, 1, none (a blocking connect waits)", l.Enqueued, l.Accepted, refusals)
	}
}

// Queue mode sees a Unix listener's queue (enqueues, high water, accepted
// inferred from the queue) but no connect() and no accept().
func TestUnixQueueMode(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	tr := startTracingWith(t, Options{Mode: ModeQueue})
	path := filepath.Join(t.TempDir(), "app.sock")
	fd := nstest.ListenUnix(t, unix.SOCK_STREAM, path, 2)
	nstest.FillUnix(t, unix.SOCK_STREAM, path, 10)
	acceptUnix(t, fd, 3)
	if _, err := nstest.ConnectUnix(t, unix.SOCK_STREAM, path); err != nil {
		t.Fatal(err)
	}
	l, refusals := tr.unixReport(path)
	if !l.Unix || l.Enqueued != 4 || l.AcceptQueueHighWater != 3 || l.Accepted != 3 || l.LastAcceptPID != 0 {
		t.Errorf("unix %v, enqueued %d, high water %d, accepted %d, accepting pid %d; want true, 4, 3, 3 (inferred), 0",
			l.Unix, l.Enqueued, l.AcceptQueueHighWater, l.Accepted, l.LastAcceptPID)
	}
	if len(refusals) != 0 {
		t.Errorf("queue mode counted refusals: %+v", refusals)
	}
}

func refusalEqual(a, b ConnectRefusal) bool {
	return a.Netns == b.Netns && a.PID == b.PID && a.Type == b.Type && string(a.SunPath) == string(b.SunPath) && a.Count == b.Count
}
