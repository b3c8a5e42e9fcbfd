package tune_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/sysctl"
	"github.com/backlogctl/backlogctl/sysctl/sysctltest"
)

// tuneReport is the part of tune -o json these tests read.
type tuneReport struct {
	Changes []struct {
		Key    string `json:"key"`
		Target int64  `json:"target"`
	} `json:"changes"`
	Done     bool              `json:"done"`
	Relisten []advise.Relisten `json:"relisten"`
}

func tuneJSON(t *testing.T, state string, args ...string) tuneReport {
	t.Helper()
	res := runReal(t, state, t.TempDir(), append(args, "-o", "json")...)
	if res.Code != 0 {
		t.Fatalf("tune %v: exit %d: %s", args, res.Code, res.Stderr)
	}
	var r tuneReport
	if err := json.Unmarshal([]byte(res.Stdout), &r); err != nil {
		t.Fatalf("tune -o json: %v\n%s", err, res.Stdout)
	}
	return r
}

// adviseReport is the part of advise -o json these tests read.
type adviseReport struct {
	Findings []advise.Finding `json:"findings"`
}

func adviseJSON(t *testing.T, state string, args ...string) adviseReport {
	t.Helper()
	res := nstest.RunCLI(t, nstest.CLI{Args: append([]string{"advise", "--state-dir", state, "-o", "json"}, args...)})
	if res.Code != 0 {
		t.Fatalf("advise %v: exit %d: %s", args, res.Code, res.Stderr)
	}
	var r adviseReport
	if err := json.Unmarshal([]byte(res.Stdout), &r); err != nil {
		t.Fatalf("advise -o json: %v\n%s", err, res.Stdout)
	}
	return r
}

func listenerOn(t *testing.T, port uint16) model.Listener {
	t.Helper()
	ls, err := inspect.Listeners(nil, []uint16{port})
	if err != nil || len(ls) == 0 {
		t.Fatalf("listener on %d: %v", port, err)
	}
	return ls[0]
}

// Items 5 and 6: python3 listening with 4096 under somaxconn 128 keeps 128
// after tune raises somaxconn to 4096. tune's plan and its result list it
// with its owner; advise then says it predates the change and to restart it,
// not that 128 is the program's own backlog.
func TestTuneAndAdviseNameListenersThatPredateSomaxconn(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	nstest.SetSysctl(t, "net.core.somaxconn", 128)
	port := nstest.FreePort(t)
	py := nstest.StartPython(t, port, "-c", fmt.Sprintf(
		"import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',%d))\ns.listen(4096)\ntime.sleep(600)", port))
	if b := listenerOn(t, port).AcceptQueueMax; b != 128 {
		t.Fatalf("python3's listen(4096) under somaxconn 128 has backlog %d", b)
	}
	state := t.TempDir()
	owner := "[" + strconv.Itoa(py.PID()) + "]"

	plan := tuneJSON(t, state, "--set", "somaxconn=4096")
	if len(plan.Relisten) != 1 || plan.Relisten[0].Backlog != 128 || !strings.Contains(plan.Relisten[0].Owner, owner) {
		t.Fatalf("plan's relisten = %+v, want 127.0.0.1:%d at 128 owned by pid %d", plan.Relisten, port, py.PID())
	}
	applied := tuneJSON(t, state, "--set", "somaxconn=4096", "--apply", "--yes")
	if !applied.Done || len(applied.Relisten) != 1 || !strings.Contains(applied.Relisten[0].Restart, "restart") {
		t.Fatalf("apply: done %v relisten %+v, want the python3 listener with a restart", applied.Done, applied.Relisten)
	}

	// python3 never accepts: fill its queue, as in the report.
	ep := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
	for i := 0; i < 140; i++ {
		nstest.Connect(t, ep)
	}
	nstest.Eventually(t, 5*time.Second, "a full queue", func() bool { return listenerOn(t, port).AcceptQueue > 128 })
	r := adviseJSON(t, state, "--port", strconv.Itoa(int(port)))
	subject := ep.String()
	f, ok := advise.FindingByID(r.Findings, "listener-predates-somaxconn-change", subject)
	if !ok {
		t.Fatalf("no listener-predates-somaxconn-change for %s in %+v", subject, r.Findings)
	}
	if !strings.Contains(f.Reason, "this listener predates the change") || !strings.Contains(f.Fix, "restart") || !strings.Contains(f.Fix, owner) {
		t.Errorf("reason %q fix %q: want it to predate the change and a restart of pid %d", f.Reason, f.Fix, py.PID())
	}
	if _, ok := advise.FindingByID(r.Findings, "listener-backlog-too-small", subject); ok {
		t.Error("still blames python3's own backlog")
	}
}

// Item 7: a listener overflowed under somaxconn 128, then somaxconn was
// raised (by tune) and the program listened again with the new value on the
// same socket, as nginx does on reload: its drop count survives, but it is
// history; nothing says to raise somaxconn again.
func TestAdviseStaleDropsAfterFixAreHistory(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	fd, ep := clampedWithDrops(t, 128)
	acceptAll(t, fd)
	state := t.TempDir()
	tuneJSON(t, state, "--set", "somaxconn=4096", "--apply", "--yes")
	must(t, unix.Listen(fd, 4096)) // a reload that listens again on the same socket
	if l := listenerOn(t, ep.Port()); l.AcceptQueueMax != 4096 || l.AcceptQueue > 200 {
		t.Fatalf("after re-listen: backlog %d queue %d, want 4096 and a queue far from full", l.AcceptQueueMax, l.AcceptQueue)
	}
	r := adviseJSON(t, state, "--port", strconv.Itoa(int(ep.Port())))
	for _, f := range r.Findings {
		if f.Key == "net.core.somaxconn" && f.Recommended != nil && *f.Recommended > 4096 {
			t.Errorf("%s recommends raising somaxconn again to %d: %s", f.ID, *f.Recommended, f.Reason)
		}
	}
	if _, ok := advise.FindingByID(r.Findings, "listener-drops-history", ep.String()); !ok {
		t.Errorf("drops since creation not reported as history: %+v", r.Findings)
	}
}

// Item 8: a listener clamped by somaxconn with drops since creation, its
// queue drained: tune (one sample, and --interval) plans the somaxconn fix
// that advise recommends, instead of "nothing to change".
func TestTunePlansClampFromDropsSinceCreation(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	fd, _ := clampedWithDrops(t, 64)
	acceptAll(t, fd) // a server that accepts again: its queue drains
	for _, args := range [][]string{nil, {"--interval", "300ms"}} {
		r := tuneJSON(t, t.TempDir(), args...)
		planned := false
		for _, c := range r.Changes {
			planned = planned || c.Key == "net.core.somaxconn" && c.Target >= 4096
		}
		if !planned {
			t.Errorf("tune %v plans %+v, want net.core.somaxconn raised for the clamped listener", args, r.Changes)
		}
	}
}

// Item 9: advise recommends tcp_syncookies 1 and tcp_abort_on_overflow 0
// for 2 and 1; tune --apply makes them without --allow-lower.
func TestTuneAppliesModeKeysWithoutAllowLower(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	nstest.SetSysctl(t, "net.ipv4.tcp_syncookies", 2)
	nstest.SetSysctl(t, "net.ipv4.tcp_abort_on_overflow", 1)
	tuneJSON(t, t.TempDir(), "--apply", "--yes")
	got := sysctltest.Values(t, sysctl.DefaultRoot, "net.ipv4.tcp_syncookies", "net.ipv4.tcp_abort_on_overflow")
	if got["net.ipv4.tcp_syncookies"] != "1" || got["net.ipv4.tcp_abort_on_overflow"] != "0" {
		t.Errorf("after tune --apply: %v, want tcp_syncookies 1 and tcp_abort_on_overflow 0", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// acceptAll accepts every connection on fd until the test ends, as a
// server that keeps up would.
func acceptAll(t *testing.T, fd int) {
	must(t, unix.SetNonblock(fd, true))
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		var conns []int
		defer func() {
			for _, c := range conns {
				unix.Close(c)
			}
		}()
		for {
			select {
			case <-done:
				return
			default:
			}
			if c, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC); err == nil {
				conns = append(conns, c)
				continue
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { close(done); <-stopped })
}

// clampedWithDrops sets somaxconn, listens with 4096 (clamped to somaxconn)
// and overflows the queue until the listener has counted drops.
func clampedWithDrops(t *testing.T, somaxconn int64) (int, netip.AddrPort) {
	t.Helper()
	nstest.SetSysctl(t, "net.core.somaxconn", somaxconn)
	fd, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 4096, nstest.ListenOpts{})
	for i := 0; i < int(somaxconn)+16; i++ {
		nstest.Connect(t, ep)
	}
	nstest.Eventually(t, 5*time.Second, "drops", func() bool { return listenerOn(t, ep.Port()).DropCount() > 0 })
	return fd, ep
}
