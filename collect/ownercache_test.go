package collect

import (
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
)

// OwnerCache finds owners, and a new listener's owner on the next call.
func TestOwnerCache(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 4, nstest.ListenOpts{})
	c := &ownerCache{MaxAge: 1 << 62}
	for round := 1; round <= 2; round++ {
		snap, err := gatherHere(Options{})
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

// In Background mode the first Attach walks /proc itself; a new listener's
// owner is then found by a walk in the background, without Attach waiting,
// and shows up on a later call.
func TestOwnerCacheBackground(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 4, nstest.ListenOpts{})
	c := &ownerCache{MaxAge: 1 << 62, Background: true}
	attach := func() *model.Snapshot {
		snap, err := gatherHere(Options{})
		if err != nil {
			t.Fatal(err)
		}
		c.Attach(snap)
		return snap
	}
	if snap := attach(); len(snap.Listeners) != 1 || len(snap.Listeners[0].Processes) != 1 {
		t.Fatalf("first Attach must find the owner itself: %+v", snap.Listeners)
	}
	_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 4, nstest.ListenOpts{})
	nstest.Eventually(t, 10*time.Second, "the new listener's owner from a background walk", func() bool {
		for _, l := range attach().Listeners {
			if l.Port == ep.Port() {
				return len(l.Processes) == 1 && l.Processes[0].PID == os.Getpid()
			}
		}
		t.Fatalf("listener %d missing", ep.Port())
		return false
	})
}
