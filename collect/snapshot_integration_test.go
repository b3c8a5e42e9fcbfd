package collect

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
)

// somaxconn 8 clamps listen(1000) to 8; 30 connects never accepted fill the
// queue to backlog+1 and overflow, seen per listener and in the counters.
func TestAcceptQueueOverflow(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	nstest.SetSysctl(t, "net.core.somaxconn", 8)
	_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 1000, nstest.ListenOpts{})
	for i := 0; i < 30; i++ {
		nstest.Connect(t, ep)
	}
	var snap *model.Snapshot
	nstest.Eventually(t, 5*time.Second, "accept queue to fill and overflow", func() bool {
		var err error
		snap, err = gatherHere(Options{Owners: OwnersOn})
		if err != nil {
			t.Fatal(err)
		}
		l := nstest.FindListener(t, snap.Listeners, ep.Port())
		return l.AcceptQueue == 9 && l.DropCount() > 0 && snap.Counters["TcpExtListenOverflows"] > 0
	})
	l := nstest.FindListener(t, snap.Listeners, ep.Port())
	if l.AcceptQueueMax != 8 {
		t.Errorf("accept_queue_max = %d, want 8 (listen(1000) clamped by somaxconn 8)", l.AcceptQueueMax)
	}
	if l.Fill != 1.0 {
		t.Errorf("fill = %v, want 1.0 for a full queue", l.Fill)
	}
	if snap.Sysctls["net.core.somaxconn"] != 8 {
		t.Errorf("sysctls[somaxconn] = %d, want 8", snap.Sysctls["net.core.somaxconn"])
	}
	if _, ok := snap.Sysctls["net.core.netdev_max_backlog"]; ok {
		t.Errorf("net.core.netdev_max_backlog is global and should be absent in a child namespace")
	}
	if len(l.Processes) != 1 || l.Processes[0].PID != os.Getpid() || l.Processes[0].NofileSoft == 0 {
		t.Errorf("processes = %+v, want this test process (%d) with its limits", l.Processes, os.Getpid())
	}
	if l.SynQueue != 0 {
		t.Errorf("syn_queue = %d, want 0: every handshake completed or was dropped at the SYN", l.SynQueue)
	}
	// tcp_listendrop counts every overflow in ListenDrops too.
	if snap.Counters["TcpExtListenDrops"] < snap.Counters["TcpExtListenOverflows"] {
		t.Errorf("ListenDrops %d < ListenOverflows %d", snap.Counters["TcpExtListenDrops"], snap.Counters["TcpExtListenOverflows"])
	}
	for _, w := range snap.Warnings {
		if strings.Contains(w, "netdev_max_backlog") {
			t.Errorf("an absent key is a warning: %q", w)
		}
	}
	if snap.Files == nil || snap.Files.NrOpen < 64 || snap.Files.Max <= 0 || snap.Files.Allocated <= 0 {
		t.Errorf("files = %+v, want fs.file-nr, fs.file-max and fs.nr_open", snap.Files)
	}
	if _, ok := snap.Counters["TcpActiveOpens"]; !ok {
		t.Errorf("counters lack TcpActiveOpens from /proc/net/snmp")
	}
	if _, ok := snap.Counters["TcpMaxConn"]; ok {
		t.Errorf("TcpMaxConn (-1, a constant) should be left out")
	}
}
