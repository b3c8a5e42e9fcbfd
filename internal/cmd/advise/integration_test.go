package advise

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/nstest"
)

// overflow opens a listener with the given listen() backlog and makes 30
// connections it never accepts, until its accept queue is full (backlog+1).
func overflow(t *testing.T, backlog int) netip.AddrPort {
	t.Helper()
	_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), backlog, nstest.ListenOpts{})
	for i := 0; i < 30; i++ {
		nstest.Connect(t, ep)
	}
	nstest.Eventually(t, 5*time.Second, "the accept queue to fill", func() bool {
		ls, err := inspect.Listeners(nil, []uint16{ep.Port()})
		if err != nil {
			t.Fatal(err)
		}
		return len(ls) == 1 && ls[0].AcceptQueue > ls[0].AcceptQueueMax
	})
	return ep
}

func realOptions(port uint16) *Options {
	return &Options{Ports: []uint{uint(port)}, Collect: collect.Samples}
}

// somaxconn 8 clamps listen(1000) to 8: advise blames somaxconn, recommends
// raising it, and says the program must call listen() again.
func TestAdviseClampedListenerInNamespace(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	nstest.SetSysctl(t, "net.core.somaxconn", 8)
	ep := overflow(t, 1000)
	r := runJSON(t, realOptions(ep.Port()))
	subject := ep.String()
	f, ok := advise.FindingByID(r.Findings, "somaxconn-clamps-listener", subject)
	if !ok {
		t.Fatalf("no somaxconn-clamps-listener for %s in %v", subject, ids(r))
	}
	if f.Severity != advise.Warning || f.Key != "net.core.somaxconn" || *f.Current != 8 || *f.Recommended != 4096 {
		t.Errorf("finding = %s %s current=%d recommended=%d, want warning net.core.somaxconn 8 -> 4096",
			f.Severity, f.Key, *f.Current, *f.Recommended)
	}
	if !strings.Contains(f.Fix, "listen() again") || !strings.Contains(f.Fix, "restart") {
		t.Errorf("fix %q does not say the program must call listen() again (restart)", f.Fix)
	}
	if f.Evidence["accept_queue"] != 9 || f.Evidence["backlog"] != 8 {
		t.Errorf("evidence = %v, want accept_queue 9 backlog 8", f.Evidence)
	}
	if len(r.Plan.Changes) != 1 || r.Plan.Changes[0].Key != "net.core.somaxconn" || r.Plan.Changes[0].Target != 4096 {
		t.Errorf("plan = %+v, want net.core.somaxconn -> 4096", r.Plan.Changes)
	}
}

// listen(4) below somaxconn (4096 in a new namespace) with a full queue: the
// fix is the program's backlog, and somaxconn is not blamed.
func TestAdviseProgramBacklogInNamespace(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	ep := overflow(t, 4)
	o := realOptions(ep.Port())
	r := runJSON(t, o)
	subject := ep.String()
	f, ok := advise.FindingByID(r.Findings, "listener-backlog-too-small", subject)
	if !ok {
		t.Fatalf("no listener-backlog-too-small for %s in %v", subject, ids(r))
	}
	if f.Severity == advise.Info || *f.Current != 4 || f.Key != "" {
		t.Errorf("finding = %s current=%d key=%q, want a warning about backlog 4 with no sysctl", f.Severity, *f.Current, f.Key)
	}
	if !strings.Contains(f.Reason, "raising somaxconn would change nothing") {
		t.Errorf("reason %q does not rule out somaxconn", f.Reason)
	}
	for _, g := range advise.FindingsFor(r.Findings, subject) {
		if g.Key == "net.core.somaxconn" {
			t.Errorf("somaxconn blamed for a listener below it: %+v", g)
		}
	}
	for _, c := range r.Plan.Changes {
		if c.Key == "net.core.somaxconn" {
			t.Errorf("plan raises somaxconn for a listener below it: %+v", c)
		}
	}
}
