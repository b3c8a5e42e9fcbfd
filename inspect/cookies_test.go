package inspect

import (
	"net/netip"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
)

// The SYN queue is capped by the effective backlog, not tcp_max_syn_backlog
// (inet_csk_reqsk_queue_is_full: >= before 6.12.10, > since): beyond it,
// syncookies=1 answers with cookies (no request socket, DoCookies and
// SyncookiesSent count them) and syncookies=0 drops the SYN (TCPReqQFullDrop).
func TestSynQueueCapAndCookies(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	const backlog, connects = 4, 10
	nstest.SetSysctl(t, "net.ipv4.tcp_max_syn_backlog", 4096) // must not matter
	counters := func() map[string]uint64 {
		c, err := ReadCounters("/proc")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, c := range []struct {
		syncookies int64
		counter    string // the counter that takes every SYN over the cap
	}{
		{1, "TcpExtSyncookiesSent"},
		{0, "TcpExtTCPReqQFullDrop"},
	} {
		nstest.SetSysctl(t, "net.ipv4.tcp_syncookies", c.syncookies)
		_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), backlog, nstest.ListenOpts{})
		dropFinalACK(t, ep.Port())
		before := counters()
		for i := 0; i < connects; i++ {
			nstest.Connect(t, ep)
		}
		var l model.Listener
		var after map[string]uint64
		nstest.Eventually(t, 5*time.Second, "every SYN to be queued or turned away", func() bool {
			l = nstest.FindListener(t, gather(t, ep.Port()).Listeners, ep.Port())
			after = counters()
			return uint64(l.SynQueue)+after[c.counter]-before[c.counter] >= connects
		})
		if l.SynQueue != backlog && l.SynQueue != backlog+1 {
			t.Errorf("syncookies=%d: syn_queue %d, want the effective backlog %d (or %d on kernels since 6.12.10)",
				c.syncookies, l.SynQueue, backlog, backlog+1)
		}
		if over := after[c.counter] - before[c.counter]; over != uint64(connects)-uint64(l.SynQueue) {
			t.Errorf("syncookies=%d: %s rose by %d, want %d", c.syncookies, c.counter, over, uint64(connects)-uint64(l.SynQueue))
		}
		if c.syncookies == 1 && after["TcpExtTCPReqQFullDoCookies"] == before["TcpExtTCPReqQFullDoCookies"] {
			t.Errorf("syncookies=1: TcpExtTCPReqQFullDoCookies did not rise")
		}
		if l.AcceptQueue != 0 || l.AcceptQueueMax != backlog {
			t.Errorf("syncookies=%d: accept queue %d/%d, want 0/%d", c.syncookies, l.AcceptQueue, l.AcceptQueueMax, backlog)
		}
	}
}
