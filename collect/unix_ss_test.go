package collect

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/netns/netnstest"
)

// unixState is what both ss -xl and inspect say about one Unix listener.
type unixState struct {
	Type, Path                  string
	AcceptQueue, AcceptQueueMax uint32
}

// ssUnixListeners runs `ss -xlH` and returns each listener's state by
// inode. Its lines are: Netid State Recv-Q Send-Q Local-Address Inode Peer PeerInode.
func ssUnixListeners(t *testing.T) map[uint32]unixState {
	t.Helper()
	out, err := exec.Command("ss", "-xlH").Output()
	if err != nil {
		t.Fatalf("ss -xlH: %v", err)
	}
	types := map[string]string{"u_str": "stream", "u_seq": "seqpacket"}
	got := map[uint32]unixState{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 8 || f[1] != "LISTEN" || types[f[0]] == "" {
			t.Fatalf("unparsed ss -xl line %q", line)
		}
		var n [3]uint64
		for i, s := range []string{f[2], f[3], f[5]} {
			if n[i], err = strconv.ParseUint(s, 10, 32); err != nil {
				t.Fatalf("ss line %q: %v", line, err)
			}
		}
		got[uint32(n[2])] = unixState{Type: types[f[0]], Path: f[4], AcceptQueue: uint32(n[0]), AcceptQueueMax: uint32(n[1])}
	}
	return got
}

// Unix listeners of both types, on paths and abstract names, with backlogs
// from 0 to above somaxconn and queues empty, part-filled and full (each
// fill stopped by the kernel's EAGAIN), read by inspect and by ss -xl: they
// must agree on every path, type, queue length and backlog; the connected
// sockets are no listeners; and the owner joined by inode is this process.
func TestUnixListenersMatchSS(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	const somaxconn = 12
	nstest.SetSysctl(t, "net.core.somaxconn", somaxconn)
	dir := t.TempDir()
	backlogs := []int{0, 1, 3, 8, 12, 13, 100, -1}
	refused, full, n := 0, 0, 0
	for i, backlog := range backlogs {
		for _, typ := range []int{unix.SOCK_STREAM, unix.SOCK_SEQPACKET} {
			for _, abstract := range []bool{false, true} {
				name := filepath.Join(dir, fmt.Sprintf("l%d-%d.sock", i, typ))
				if abstract {
					name = fmt.Sprintf("@backlogctl-test-%d-%d-%d", os.Getpid(), i, typ)
				}
				nstest.ListenUnix(t, typ, name, backlog)
				eff := backlog
				if backlog < 0 || backlog > somaxconn {
					eff = somaxconn
				}
				switch n % 3 {
				case 1:
					nstest.FillUnix(t, typ, name, eff/2)
				case 2: // until EAGAIN: a full queue holds backlog+1
					if got := nstest.FillUnix(t, typ, name, eff+10); got != eff+1 {
						t.Fatalf("%s: %d connects queued before EAGAIN, want backlog+1 = %d", name, got, eff+1)
					}
					refused++
					full++
				}
				n++
			}
		}
	}

	want := ssUnixListeners(t)
	snap := gather(t, Options{Owners: OwnersOn})
	if len(snap.Warnings) != 0 {
		t.Errorf("warnings as root: %q", snap.Warnings)
	}
	ls := snap.Listeners
	got := map[uint32]unixState{}
	for _, l := range ls {
		got[l.Inode] = unixState{l.SocketType, l.Path, l.AcceptQueue, l.AcceptQueueMax}
		if l.Family != "unix" || l.Port != 0 || l.Address != "" || l.Drops != nil {
			t.Errorf("%s: family %q, address %q, port %d, drops %v; want unix, none, 0, absent", l.Path, l.Family, l.Address, l.Port, l.Drops)
		}
		if len(l.Processes) != 1 || l.Processes[0].PID != os.Getpid() || l.Processes[0].NofileSoft == 0 {
			t.Errorf("%s: processes %+v, want this test (%d) with its limits", l.Path, l.Processes, os.Getpid())
		}
		if l.Cookie == 0 {
			t.Errorf("%s: no socket cookie", l.Path)
		}
	}
	if len(got) != n {
		t.Errorf("inspect saw %d listeners, want %d", len(got), n)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ss -xl and inspect disagree by inode (-ss +inspect):\n%s", diff)
	}
	if full < 8 {
		t.Errorf("only %d full listeners: the fixture is too weak", full)
	}

	// The path filter: exact, a pattern, and an abstract name.
	one := filepath.Join(dir, "l1-1.sock")
	for _, tc := range []struct {
		sel  Options
		want int
	}{
		{Options{Paths: []string{one}}, 1},
		{Options{Paths: []string{filepath.Join(dir, "l1-*.sock")}}, 2},
		{Options{Paths: []string{fmt.Sprintf("@backlogctl-test-%d-0-5", os.Getpid())}}, 1},
		{Options{Paths: []string{"/nonexistent/*"}}, 0},
		{Options{}, n},                   // nothing selected: every listener, Unix ones too
		{Options{Ports: []uint16{1}}, 0}, // only ports: no Unix listener
	} {
		ls := gather(t, tc.sel).Listeners
		if len(ls) != tc.want {
			t.Errorf("Ports %v Paths %q: %d listeners, want %d", tc.sel.Ports, tc.sel.Paths, len(ls), tc.want)
		}
	}

	// Abstract names and the listeners themselves belong to this network
	// namespace: another namespace's dump sees none of them.
	other := netnstest.Hold(t)
	m, err := Snapshot(Options{Namespaces: Namespaces{Netns: other}})
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := m.Namespaces[0].Listeners
	if len(elsewhere) != 0 {
		t.Errorf("another namespace sees %d of this namespace's Unix listeners: %+v", len(elsewhere), elsewhere)
	}
}

// The queue's head is the client of the oldest waiting connection: the
// first to connect, and after accept() takes it, the second.
func TestUnixQueueHead(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	name := filepath.Join(t.TempDir(), "head.sock")
	lfd := nstest.ListenUnix(t, unix.SOCK_STREAM, name, 8)
	var clients []uint32
	for range 3 {
		fd, err := nstest.ConnectUnix(t, unix.SOCK_STREAM, name)
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, uint32(st.Ino))
	}
	head := func() uint32 {
		ls := gather(t, Options{Paths: []string{name}}).Listeners
		if len(ls) != 1 {
			t.Fatalf("listeners %+v", ls)
		}
		return ls[0].QueueHead
	}
	if got := head(); got != clients[0] {
		t.Errorf("queue head %d, want the first client %d (clients %v)", got, clients[0], clients)
	}
	nfd, _, err := unix.Accept(lfd)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(nfd)
	if got := head(); got != clients[1] {
		t.Errorf("after one accept: queue head %d, want the second client %d", got, clients[1])
	}
}
