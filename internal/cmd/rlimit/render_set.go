package rlimit

import (
	"fmt"

	"github.com/backlogctl/backlogctl/internal/cmdutil"
)

// renderSet reports what set did. The drop-in alone goes to stdout when it was
// only printed, so it can be redirected into a file; advice goes to stderr.
func renderSet(o *SetOptions, r *SetResult) error {
	if o.Output == "json" {
		return cmdutil.PrintData(o.IO, r)
	}
	out, hint := o.IO.Out, o.IO.ErrOut
	if r.Nofile != nil {
		fmt.Fprintf(out, "pid %d: RLIMIT_NOFILE %v -> %v (verified in /proc/%d/limits)\n",
			r.PID, r.Previous, r.Nofile, r.PID)
		if r.Unit == "" && r.ProcessUnit != "" {
			fmt.Fprintf(hint, "pid %d runs in %s: the change lasts until it restarts. To keep it:\n  backlogctl rlimit set --systemd-unit %s --nofile %v --write\n",
				r.PID, r.ProcessUnit, r.ProcessUnit, r.Nofile)
		}
	}
	switch {
	case r.Written:
		fmt.Fprintf(out, "wrote %s\n", r.DropInPath)
		fmt.Fprintf(hint, "now run: systemctl daemon-reload && systemctl restart %s (the limit applies from the next start)\n", r.Unit)
	case r.Unit != "":
		fmt.Fprint(out, r.DropIn)
		fmt.Fprintf(hint, "install it as %s with --write, then run: systemctl daemon-reload && systemctl restart %s\n",
			r.DropInPath, r.Unit)
	}
	return nil
}
