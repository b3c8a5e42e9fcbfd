package cmdutil

import "testing"

func TestCheckTraceFlags(t *testing.T) {
	for _, m := range []string{"queue", "full"} {
		if err := CheckTraceMode(m); err != nil {
			t.Errorf("--trace-mode %s: %v", m, err)
		}
	}
	for _, m := range []string{"", "Queue", "syscall"} {
		if err := CheckTraceMode(m); ExitCode(err) != ExitUsage {
			t.Errorf("--trace-mode %q: %v, want a usage error", m, err)
		}
	}
	for _, n := range []int{0, 1, MaxTraceListeners} {
		if err := CheckTraceListeners(n); err != nil {
			t.Errorf("--trace-listeners %d: %v", n, err)
		}
	}
	for _, n := range []int{-1, MaxTraceListeners + 1} {
		if err := CheckTraceListeners(n); ExitCode(err) != ExitUsage {
			t.Errorf("--trace-listeners %d: %v, want a usage error", n, err)
		}
	}
}
