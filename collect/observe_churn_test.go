package collect

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
)

// check --observe stays correct under churn: every stable listener is
// tracked exactly once over the window, the dump never fails, and the owners
// looked up at the end are found although processes vanish meanwhile.
func TestObserveUnderChurn(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	churn := nstest.StartChurn(t, 200)
	windows := 0
	for i := 0; i < 3; i++ {
		obs, err := observeHere(context.Background(), Options{Owners: OwnersOn}, ObserveOptions{Window: time.Second, Interval: 10 * time.Millisecond})
		if err != nil {
			t.Fatalf("window %d under churn: %v", i, err)
		}
		if obs.ListenersError != "" || len(obs.Warnings) > 0 {
			t.Fatalf("window %d: listeners error %q, warnings %q", i, obs.ListenersError, obs.Warnings)
		}
		// A window compares samples: it holds at least two, however few a
		// loaded machine manages in a second.
		if obs.Window == nil || obs.Window.Samples < 2 {
			t.Fatalf("window %d: too few samples: %+v", i, obs.Window)
		}
		var ports []uint16
		for _, l := range obs.Listeners {
			ap, err := netip.ParseAddrPort(l.Endpoint)
			if err != nil {
				t.Fatalf("window %d: endpoint %q: %v", i, l.Endpoint, err)
			}
			if churn.Ports[ap.Port()] {
				ports = append(ports, ap.Port())
				if l.Appeared || l.Gone || len(l.Processes) == 0 {
					t.Fatalf("window %d: stable listener %s: appeared=%v gone=%v owners=%d", i, l.Endpoint, l.Appeared, l.Gone, len(l.Processes))
				}
			}
		}
		if bad := churn.CheckPorts(ports); len(bad) > 0 {
			t.Fatalf("window %d: %v", i, bad)
		}
		windows++
	}
	conns, rate, errs := churn.Stop()
	if conns == 0 {
		t.Fatal("no connections churned")
	}
	t.Logf("churn: %d connections (%.0f/s), %d connect errors; %d observe windows, 0 errors", conns, rate, errs, windows)
}
