package collect

import (
	"testing"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
)

// BenchmarkLiveOwners scans the real /proc for the owners of this
// namespace's listeners, with their names and limits.
func BenchmarkLiveOwners(b *testing.B) {
	ls, err := inspect.Listeners(nil, nil)
	if err != nil {
		b.Skipf("sock_diag not available: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		for i := range ls {
			ls[i].Processes = ls[i].Processes[:0]
		}
		if _, err := attachProcesses(hostfs.Roots{Proc: "/proc"}, inspect.StartOwnerWalk("/proc", true), ls, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLiveSnapshot is the whole snapshot of inspect --no-processes.
func BenchmarkLiveSnapshot(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Snapshot(Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLiveSnapshotOwners is the whole snapshot of inspect.
func BenchmarkLiveSnapshotOwners(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Snapshot(Options{Owners: OwnersOn}); err != nil {
			b.Fatal(err)
		}
	}
}
