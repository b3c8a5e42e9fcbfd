package exporter

import (
	"strconv"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
)

// Scrapes stay correct under churn: every stable listener is one series in
// every scrape, and no scrape fails, while connections, listeners and
// processes come and go.
func TestScrapesUnderChurn(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	churn := nstest.StartChurn(t, 200)
	h, err := newOpts().Handler()
	if err != nil {
		t.Fatal(err)
	}
	scrapes := 0
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); scrapes++ {
		fams := scrape(t, h)
		fam, ok := fams["backlogctl_listener_accept_queue"]
		if !ok {
			t.Fatalf("scrape %d: no backlogctl_listener_accept_queue", scrapes)
		}
		var ports []uint16
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() != "port" {
					continue
				}
				if p, err := strconv.Atoi(l.GetValue()); err == nil && churn.Ports[uint16(p)] {
					ports = append(ports, uint16(p))
				}
			}
		}
		if bad := churn.CheckPorts(ports); len(bad) > 0 {
			t.Fatalf("scrape %d: %v", scrapes, bad)
		}
	}
	conns, rate, errs := churn.Stop()
	if conns == 0 {
		t.Fatal("no connections churned")
	}
	t.Logf("churn: %d connections (%.0f/s), %d connect errors; %d scrapes, 0 failed", conns, rate, errs, scrapes)
}
