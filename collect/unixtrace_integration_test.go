package collect

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
)

// tracedUnix takes a traced snapshot and returns the Unix listener on name.
func tracedUnix(t *testing.T, c *Collector, name string) model.Listener {
	t.Helper()
	m, err := c.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Namespaces[0].Listeners {
		if l.IsUnix() && l.Path == name {
			if l.Traced == nil {
				t.Fatalf("Unix listener %s carries no evidence: %+v", name, l)
			}
			return l
		}
	}
	t.Fatalf("no Unix listener on %s in %+v", name, m.Namespaces[0].Listeners)
	return model.Listener{}
}

// A full Unix listener's EAGAIN refusals, given to it by the path each
// client asked for: this process's absolute path, a client's relative one
// (resolved in its working directory), a client in another network
// namespace (a path leads to its listener across namespaces), and a client
// that has exited since (matched by name). A second listener, idle, gets
// none. The queue's figures are the programs' own: high water backlog+1,
// no SYN queue, no overflows.
func TestTracedUnixRefusals(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	const backlog = 2
	dir := t.TempDir()
	path, idle := filepath.Join(dir, "app.sock"), filepath.Join(dir, "idle.sock")
	c := tracedCollector(t, Options{Paths: []string{filepath.Join(dir, "*.sock")}})
	nstest.ListenUnix(t, unix.SOCK_STREAM, path, backlog)
	nstest.ListenUnix(t, unix.SOCK_STREAM, idle, backlog)
	if n := nstest.FillUnix(t, unix.SOCK_STREAM, path, 10); n != backlog+1 {
		t.Fatalf("%d queued, want %d", n, backlog+1)
	}
	relative := nstest.ConnectUnixFrom(t, dir, "app.sock", 4)
	elsewhere := nstest.ConnectUnixFrom(t, "/", path, 3, "unshare", "-n")
	gone := nstest.ConnectUnixFrom(t, "/", path, 2)
	if relative.Refused != 4 || elsewhere.Refused != 3 || gone.Refused != 2 {
		t.Fatalf("clients refused %d, %d, %d times, want 4, 3, 2", relative.Refused, elsewhere.Refused, gone.Refused)
	}
	gone.Exit()

	l := tracedUnix(t, c, path)
	tr := l.Traced
	want := []model.ConnectRefusal{{PID: relative.PID, Comm: "python3", Count: 4}, {PID: elsewhere.PID, Comm: "python3", Count: 3},
		{PID: gone.PID, Count: 2}, {PID: os.Getpid(), Comm: selfComm(t), Count: 1}}
	if diff := cmp.Diff(want, tr.ConnectRefusals); diff != "" || tr.ConnectEAGAIN != 10 {
		t.Errorf("connect_eagain %d, want 10; refusals (-want +got):\n%s", tr.ConnectEAGAIN, diff)
	}
	if tr.HighWater != backlog+1 || tr.Enqueued != backlog+1 || tr.SynQueueHighWater != 0 || tr.Overflows.Total() != 0 || len(tr.Drops) != 0 {
		t.Errorf("high water %d, enqueued %d, syn queue %d, overflows %+v, drops %v; want %d, %d, 0, none, none",
			tr.HighWater, tr.Enqueued, tr.SynQueueHighWater, tr.Overflows, tr.Drops, backlog+1, backlog+1)
	}
	if other := tracedUnix(t, c, idle).Traced; other.ConnectEAGAIN != 0 || len(other.ConnectRefusals) != 0 {
		t.Errorf("the idle listener got refusals: %d %+v", other.ConnectEAGAIN, other.ConnectRefusals)
	}

	report := model.NewTraceReport(&model.MultiSnapshot{Trace: &model.TraceInfo{Mode: "full"},
		Namespaces: []model.NamespaceSnapshot{{Snapshot: &model.Snapshot{Listeners: []model.Listener{l}}}}}, time.Second)
	if r := report.Listeners[0]; r.UnixConnects == nil || r.ConnectEAGAIN != 10 || r.Path != path || r.SocketType != "stream" || r.Port != 0 {
		t.Errorf("trace's report of the listener: %+v", r)
	}
}

// A refused client's comm, as /proc names the test binary.
func selfComm(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	return string(b[:len(b)-1])
}

// An abstract name is looked up in the connecting socket's namespace: a
// refusal is given to the listener of that name and type there, not to
// one of another type; a blocking connect that slept on the full queue is
// counted for the listener.
func TestTracedUnixAbstractAndBlocked(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	const name = "@backlogctl-collect-test"
	c := tracedCollector(t, Options{})
	fd := nstest.ListenUnix(t, unix.SOCK_STREAM, name, 0)
	nstest.ListenUnix(t, unix.SOCK_SEQPACKET, name, 0)
	client := nstest.ConnectUnixFrom(t, "/", name, 3) // one queued (backlog 0 holds 1), two refused
	if client.Refused != 2 {
		t.Fatalf("refused %d, want 2", client.Refused)
	}
	// The read that sees the full listener attaches connect()'s entry.
	if m, err := c.Snapshot(); err != nil || m.Trace.ConnectBlockedSince.IsZero() {
		t.Fatalf("after a full listener was read: %v, blocked connects timed since %v", err, m.Trace.ConnectBlockedSince)
	}
	done := nstest.BlockedConnectUnix(t, unix.SOCK_STREAM, name)
	nfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(nfd)
	if err := <-done; err != nil {
		t.Fatalf("the blocked connect: %v", err)
	}
	m, err := c.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Namespaces[0].Listeners {
		if !l.IsUnix() || l.Path != name {
			continue
		}
		tr := l.Traced
		switch l.SocketType {
		case "stream":
			if tr.ConnectEAGAIN != 2 || tr.ConnectBlocked.Count != 1 || tr.Enqueued != 2 || tr.Accepted != 1 || tr.AcceptWait.Count != 1 {
				t.Errorf("stream: eagain %d, blocked %+v, enqueued %d, accepted %d, waits %d; want 2, 1, 2, 1, 1",
					tr.ConnectEAGAIN, tr.ConnectBlocked, tr.Enqueued, tr.Accepted, tr.AcceptWait.Count)
			}
		case "seqpacket":
			if tr.ConnectEAGAIN != 0 || tr.ConnectBlocked.Count != 0 || tr.Enqueued != 0 {
				t.Errorf("seqpacket: eagain %d, blocked %+v, enqueued %d; want none", tr.ConnectEAGAIN, tr.ConnectBlocked, tr.Enqueued)
			}
		}
	}
}
