package collect

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
)

// churnDuration bounds the load test; BACKLOGCTL_CHURN_SECONDS makes it longer
// for the figures in docs/RELIABILITY.md.
func churnDuration() time.Duration {
	if s, err := strconv.Atoi(os.Getenv("BACKLOGCTL_CHURN_SECONDS")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 3 * time.Second
}

// While thousands of connections per second churn through listeners,
// transient listeners open and close, and short-lived processes come and go,
// every snapshot still holds each stable listener exactly once, with no error.
func TestSnapshotUnderChurn(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	churn := nstest.StartChurn(t, 200)
	deadline := time.Now().Add(churnDuration())
	snapshots := 0
	for time.Now().Before(deadline) {
		snap, err := gatherHere(Options{Owners: OwnersOn})
		if err != nil {
			t.Fatalf("snapshot %d under churn: %v", snapshots, err)
		}
		ports := make([]uint16, 0, len(snap.Listeners))
		for _, l := range snap.Listeners {
			ports = append(ports, l.Port)
		}
		if bad := churn.CheckPorts(ports); len(bad) > 0 {
			t.Fatalf("snapshot %d: %v", snapshots, bad)
		}
		if len(snap.Warnings) > 0 {
			t.Fatalf("snapshot %d: unexpected warnings as root: %q", snapshots, snap.Warnings)
		}
		snapshots++
	}
	conns, rate, errs := churn.Stop()
	if conns == 0 {
		t.Fatal("no connections churned: the load did not run")
	}
	t.Logf("churn: %d connections (%.0f/s), %d connect errors; %d snapshots, 0 snapshot errors", conns, rate, errs, snapshots)
}
