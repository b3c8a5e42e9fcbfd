package inspect

import (
	"fmt"

	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/metrics"
)

// namespacesRun serves --netns, --all-netns and -o prom: a snapshot per
// namespace. JSON is one namespace's snapshot with a "netns" field for
// --netns, and {"time","namespaces":[...],"notes"} for --all-netns.
func namespacesRun(o *Options, ports []uint16) error {
	m, err := o.Namespaces.Gather(inspect.Options{
		ProcRoot:  o.ProcRoot,
		SysRoot:   o.SysRoot,
		Ports:     ports,
		Processes: !o.NoProcesses,
	})
	if err != nil {
		return err
	}
	if f, _ := newFilter(o); f.active() {
		for _, ns := range m.Namespaces {
			f.apply(ns.Snapshot)
		}
	}
	switch {
	case o.Output == "prom":
		for _, n := range m.Notes {
			fmt.Fprintf(o.IO.ErrOut, "backlogctl: note: %s\n", n)
		}
		return metrics.WriteText(o.IO.Out, m, metrics.DefaultMaxListeners)
	case o.Output == "json" && o.Namespaces.All:
		return cmdutil.WriteJSON(o.IO.Out, m)
	case o.Output == "json":
		return cmdutil.WriteJSON(o.IO.Out, m.Namespaces[0])
	}
	for i, ns := range m.Namespaces {
		if i > 0 {
			fmt.Fprintln(o.IO.Out)
		}
		fmt.Fprintf(o.IO.Out, "## network namespace %s%s\n\n", ns.Netns.Label(), hintText(ns.Netns.Hint))
		if err := renderTable(o.IO, ns.Snapshot); err != nil {
			return err
		}
	}
	for _, n := range m.Notes {
		fmt.Fprintf(o.IO.ErrOut, "backlogctl: note: %s\n", n)
	}
	return nil
}

func hintText(h string) string {
	if h == "" {
		return ""
	}
	return " (" + h + ")"
}
