package hostfs

import (
	"os"
	"runtime"
	"testing"
)

// Descriptors runs for every owner at every report of trace, watch and the
// exporter: it reuses its readers' buffers instead of allocating 64 KiB of
// directory entries per call. Bytes, not time: deterministic.
func TestDescriptorsReusesBuffers(t *testing.T) {
	r := Roots{}
	pid := os.Getpid()
	if _, err := r.Descriptors(pid, 0); err != nil {
		t.Fatal(err)
	}
	const calls = 50
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range calls {
		if _, err := r.Descriptors(pid, 0); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	// A garbage collection in between empties the pool, and the race
	// detector drops a quarter of what is put back: allow for both, well
	// below the 64 KiB a call allocated without the pool.
	if per := (after.TotalAlloc - before.TotalAlloc) / calls; per > 32<<10 {
		t.Errorf("Descriptors allocated %d bytes per call, want at most 32 KiB (its buffers reused)", per)
	}
}
