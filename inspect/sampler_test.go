package inspect

import (
	"net/netip"
	"os"
	"testing"

	"github.com/backlogctl/backlogctl/internal/nstest"
)

// A fast sample keeps the last full sample's SYN count and skips a family
// that had no listeners then; the next full sample catches up.
func TestSamplerFastAndFull(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 16, nstest.ListenOpts{})
	d, err := NewDumper()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s := NewSampler(d, nil)
	ls, err := s.Sample(true)
	if err != nil || len(ls) != 1 || ls[0].Port != ep.Port() || ls[0].AcceptQueueMax != 16 {
		t.Fatalf("full sample: %+v, %v; want the IPv4 listener", ls, err)
	}
	nstest.Listen(t, netip.MustParseAddrPort("[::1]:0"), 8, nstest.ListenOpts{V6Only: true})
	nstest.Connect(t, ep)
	nstest.Eventually(t, 5e9, "the connection in the accept queue", func() bool {
		ls, err = s.Sample(false)
		return err == nil && len(ls) == 1 && ls[0].AcceptQueue == 1
	})
	if ls, _ = s.Sample(true); len(ls) != 2 {
		t.Errorf("full sample after an IPv6 listener appeared: %d listeners, want 2", len(ls))
	}
	if ls, _ = s.Sample(false); len(ls) != 2 {
		t.Errorf("fast sample once IPv6 was seen: %d listeners, want 2", len(ls))
	}
}

// OwnerCache finds owners, and a new listener's owner on the next call.
func TestOwnerCache(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 4, nstest.ListenOpts{})
	c := &OwnerCache{MaxAge: 1 << 62}
	for round := 1; round <= 2; round++ {
		snap, err := Gather(Options{})
		if err != nil {
			t.Fatal(err)
		}
		c.Attach(snap)
		if len(snap.Listeners) != round {
			t.Fatalf("round %d: %d listeners", round, len(snap.Listeners))
		}
		for _, l := range snap.Listeners {
			if len(l.Processes) != 1 || l.Processes[0].PID != os.Getpid() || l.Processes[0].OpenFDs == 0 {
				t.Errorf("round %d: listener %d owners %+v, want this process", round, l.Port, l.Processes)
			}
		}
		nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 4, nstest.ListenOpts{})
	}
}
