package inspect

import (
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/internal/nstest"
)

// queueState is what both ss and inspect say about one listener.
type queueState struct {
	AcceptQueue, AcceptQueueMax, Drops uint32
}

// ssLine matches `ss -ltnmHOe`: State Recv-Q Send-Q Local Peer ... ino:N ... skmem:(...,dN).
var ssLine = regexp.MustCompile(`^LISTEN\s+(\d+)\s+(\d+)\s+\S+\s+\S+.*\bino:(\d+)\b.*\bskmem:\(.*\bd(\d+)\)`)

// ssListeners runs ss and returns each listener's state by inode.
func ssListeners(t *testing.T) map[uint32]queueState {
	t.Helper()
	out, err := exec.Command("ss", "-ltnmHOe").Output()
	if err != nil {
		t.Fatalf("ss -ltnmHOe: %v", err)
	}
	got := map[uint32]queueState{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		m := ssLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("unparsed ss line %q", line)
		}
		n := make([]uint32, 4)
		for i := range n {
			v, err := strconv.ParseUint(m[i+1], 10, 32)
			if err != nil {
				t.Fatalf("ss line %q: %v", line, err)
			}
			n[i] = uint32(v)
		}
		got[n[2]] = queueState{AcceptQueue: n[0], AcceptQueueMax: n[1], Drops: n[3]}
	}
	return got
}

// rawConnect starts a non-blocking connect and returns its descriptor; the
// caller closes it.
func rawConnect(t *testing.T, ep netip.AddrPort) int {
	t.Helper()
	family := unix.AF_INET
	if ep.Addr().Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(fd, nstest.Sockaddr(ep)); err != nil && err != unix.EINPROGRESS {
		t.Fatalf("connect %s: %v", ep, err)
	}
	return fd
}

// Dozens of listeners — IPv4 and IPv6, backlogs from 0 to above somaxconn,
// queues empty, part-filled, exactly full and overflowing — read by inspect
// and by ss at a moment when nothing is in flight must agree on every
// accept queue, effective backlog and drop count.
func TestMatchesSS(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	const somaxconn = 12
	nstest.SetSysctl(t, "net.core.somaxconn", somaxconn)
	backlogs := []int{0, 1, 2, 3, 5, 8, 11, 12, 13, 100}
	var clients []int
	t.Cleanup(func() {
		for _, fd := range clients {
			unix.Close(fd)
		}
	})
	cases := map[string]bool{} // "backlog/connects" combinations, for the log
	n := 0
	for _, backlog := range backlogs {
		for _, host := range []string{"127.0.0.1", "::1", "127.0.0.2"} {
			_, ep := nstest.Listen(t, netip.AddrPortFrom(netip.MustParseAddr(host), 0), backlog, nstest.ListenOpts{})
			eff := min(backlog, somaxconn)
			var conns int
			switch n % 4 {
			case 0: // empty
			case 1:
				conns = eff / 2
			case 2: // exactly full: backlog+1
				conns = eff + 1
			case 3: // overflowing
				conns = eff + 4
			}
			n++
			cases[fmt.Sprintf("%d/%d", eff, conns)] = true
			for c := 0; c < conns; c++ {
				clients = append(clients, rawConnect(t, ep))
			}
		}
	}
	t.Logf("%d listeners, %d connects, (backlog/connects) %v", n, len(clients), cases)

	// A client whose SYN was dropped would retransmit it and add drops while
	// we compare: once the handshakes settle, close every client still in
	// SYN-SENT (closing it sends nothing).
	time.Sleep(200 * time.Millisecond)
	open := clients[:0]
	closed := 0
	for _, fd := range clients {
		info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err == nil && info.State == 2 /* TCP_SYN_SENT */ {
			unix.Close(fd)
			closed++
			continue
		}
		open = append(open, fd)
	}
	clients = open
	if closed == 0 {
		t.Fatalf("no connect was refused by a full queue: the overflowing cases did not overflow")
	}

	var diff string
	for attempt := 0; attempt < 20; attempt++ {
		before := ssListeners(t)
		snap := gather(t)
		after := ssListeners(t)
		if !cmp.Equal(before, after) {
			time.Sleep(100 * time.Millisecond)
			continue // something moved: compare again
		}
		got := map[uint32]queueState{}
		for _, l := range snap.Listeners {
			got[l.Inode] = queueState{l.AcceptQueue, l.AcceptQueueMax, l.DropCount()}
			if l.Drops == nil {
				t.Fatalf("listener %s: drops not reported (kernel ≥ 4.7 reports SK_MEMINFO_DROPS)", l.Endpoint())
			}
		}
		if len(got) != n {
			t.Fatalf("inspect saw %d listeners, want %d", len(got), n)
		}
		if diff = cmp.Diff(before, got); diff == "" {
			var full, overflowed int
			for _, s := range got {
				if s.AcceptQueue == s.AcceptQueueMax+1 {
					full++
				}
				if s.Drops > 0 {
					overflowed++
				}
			}
			if full < 8 || overflowed < 4 {
				t.Errorf("only %d full and %d overflowed listeners: the fixture is too weak", full, overflowed)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("inspect and ss disagree by inode (-ss +inspect):\n%s", diff)
}
