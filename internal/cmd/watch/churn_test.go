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
	o := &Options{Interval: 250 * time.Millisecond, Output: "json", Processes: true}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	// However slow a loaded machine makes each report, watch keeps printing
	// them: wait for five (the bound only stops a hang), then stop it.
	const want = 5
	out, stop := startWatch(o)
	nstest.Eventually(t, 5*time.Minute, "five watch reports", func() bool { return len(reports(t, out.String())) >= want })
	if err := stop(); err != nil {
		t.Fatalf("watch under churn: %v", err)
	}
	rs := reports(t, out.String())
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
