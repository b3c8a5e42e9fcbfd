package exporter

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
)

// A listener that appears between scrapes is never published with an empty
// process label while its owner is being looked up: it is left out until the
// owner is known, then appears once, labelled.
func TestNewListenerNeverUnlabelled(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 8, nstest.ListenOpts{})
	h, err := newOpts().Handler() // its first walk knows only the listener above
	if err != nil {
		t.Fatal(err)
	}
	scrape(t, h)
	for round := 0; round < 3; round++ {
		_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 8, nstest.ListenOpts{})
		port := fmt.Sprint(ep.Port())
		labelled := false
		for deadline := time.Now().Add(20 * time.Second); !labelled && time.Now().Before(deadline); {
			fams := scrape(t, h)
			for _, m := range fams["backlogctl_listener_backlog"].GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["port"] != port {
					continue
				}
				if labels["process"] == "" {
					t.Fatalf("round %d: listener %s published with process=\"\"", round, ep)
				}
				labelled = true
			}
			if got := value(t, fams, "backlogctl_listeners", nil); got != float64(round+2) {
				t.Fatalf("round %d: backlogctl_listeners = %v, want %d (a held-back listener still counts)", round, got, round+2)
			}
		}
		if !labelled {
			t.Fatalf("round %d: listener %s never appeared with its owner", round, ep)
		}
	}
}
