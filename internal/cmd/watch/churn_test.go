package watch

import (
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
)

// Under churn every JSON line of watch holds each stable listener exactly
// once, with its owner, and no warnings: interrupted dumps are retried and
// vanished processes are not errors.
func TestWatchUnderChurn(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	churn := nstest.StartChurn(t, 200)
	o := &Options{Interval: 250 * time.Millisecond, Duration: 3 * time.Second, Output: "json", Processes: true}
	rs := reports(t, runWatch(t, o))
	if len(rs) < 5 {
		t.Fatalf("only %d reports in 3s at a 250ms interval", len(rs))
	}
	for i, r := range rs {
		var ports []uint16
		for _, l := range r.Listeners {
			if churn.Ports[l.Port] {
				ports = append(ports, l.Port)
				if len(l.Processes) == 0 {
					t.Fatalf("report %d: stable listener %d without its owner", i, l.Port)
				}
			}
		}
		if bad := churn.CheckPorts(ports); len(bad) > 0 {
			t.Fatalf("report %d: %v", i, bad)
		}
		if len(r.Warnings) > 0 {
			t.Fatalf("report %d: warnings %q", i, r.Warnings)
		}
	}
	conns, rate, errs := churn.Stop()
	if conns == 0 {
		t.Fatal("no connections churned")
	}
	t.Logf("churn: %d connections (%.0f/s), %d connect errors; %d watch reports, 0 errors", conns, rate, errs, len(rs))
}
