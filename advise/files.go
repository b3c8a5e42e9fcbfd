package advise

import (
	"fmt"
	"math"
)

// File-table thresholds: beyond critical, accept() is close to ENFILE.
const (
	fileNrWarning  = 0.75
	fileNrCritical = 0.90
)

// fileNrFindings: fs.file-nr near fs.file-max means accept() will soon fail
// with ENFILE for every process (fs/file_table.c alloc_empty_file).
func fileNrFindings(v *view) []Finding {
	f := v.now.Files
	if f == nil || f.Max <= 0 {
		return nil
	}
	usage := f.Usage()
	if usage < fileNrWarning {
		return nil
	}
	sev := Warning
	if usage >= fileNrCritical {
		sev = Critical
	}
	want := int64(math.MaxInt64) // fs.file-max is an unsigned long, clamped to LONG_MAX
	if f.Max < math.MaxInt64/2 {
		want = 2 * f.Max
	}
	ev := map[string]float64{"allocated": float64(f.Allocated), "file_max": float64(f.Max), "usage": usage}
	reason := fmt.Sprintf("%d of fs.file-max %d open files are allocated (%.0f%%): at the limit every accept() fails with ENFILE and connections stay queued (fs/file_table.c alloc_empty_file).",
		f.Allocated, f.Max, 100*usage)
	if v.in.MemTotal > 0 {
		ev["mem_total_bytes"] = float64(v.in.MemTotal)
		// Each open file costs about 1 KiB of kernel memory (files_maxfiles_init assumes so).
		reason += fmt.Sprintf(" %d files would take about %d MiB of the %d MiB of memory.", want, want/1024, v.in.MemTotal>>20)
	}
	return []Finding{{
		ID: "file-nr-near-file-max", Severity: sev, Subject: "fs.file-max", Key: "fs.file-max",
		Current: int64p(f.Max), Recommended: int64p(want),
		Reason: reason, Fix: fmt.Sprintf("raise fs.file-max to %d, and find which process holds the descriptors", want),
		Evidence: ev,
	}}
}
