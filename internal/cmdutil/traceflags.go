package cmdutil

import "github.com/spf13/cobra"

// MaxTraceListeners bounds --trace-listeners: a table for a million
// listeners costs about 1.4 GiB of kernel memory.
const MaxTraceListeners = 1_000_000

// AddTraceListenersFlag registers --trace-listeners N on a command that
// traces with eBPF.
func AddTraceListenersFlag(cmd *cobra.Command, target *int) {
	cmd.Flags().IntVar(target, "trace-listeners", 0,
		"size eBPF's listener table for at least `N` listeners (default: the listeners there are at start and a quarter more, at least 2,048); each costs about 1.4 KiB of kernel memory, and a listener that finds the table full is reported untraced")
}

// CheckTraceListeners validates --trace-listeners.
func CheckTraceListeners(n int) error {
	if n < 0 || n > MaxTraceListeners {
		return UsageErrorf("invalid --trace-listeners %d: want 0..%d", n, MaxTraceListeners)
	}
	return nil
}
