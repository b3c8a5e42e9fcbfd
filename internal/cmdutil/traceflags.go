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

// TraceModeHelp is --trace-mode's description.
const TraceModeHelp = "what eBPF traces: `queue` (the queue's side only: no syscall tracepoint, accepts inferred from the queue, waits bounded, no accept() errors) or full (accept() and io_uring's accepts too: exact waits, accept errors by process)"

// AddTraceModeFlag registers --trace-mode on a command that traces, with
// its default.
func AddTraceModeFlag(cmd *cobra.Command, target *string, def string) {
	cmd.Flags().StringVar(target, "trace-mode", def, TraceModeHelp)
}

// CheckTraceMode validates --trace-mode.
func CheckTraceMode(mode string) error {
	if mode != "queue" && mode != "full" {
		return UsageErrorf("invalid --trace-mode %q: want queue or full", mode)
	}
	return nil
}

// CheckTraceFlags validates --trace-listeners and --trace-mode, setting an
// empty mode to def.
func CheckTraceFlags(listeners int, mode *string, def string) error {
	if err := CheckTraceListeners(listeners); err != nil {
		return err
	}
	if *mode == "" {
		*mode = def
	}
	return CheckTraceMode(*mode)
}
