package inspect

import (
	"errors"
	"fmt"

	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/metrics"
	"github.com/backlogctl/backlogctl/model"
)

// namespacesRun serves --netns, --all-netns and -o prom: a snapshot per
// namespace. JSON is one namespace's snapshot with a "netns" field for
// --netns, and {"time","namespaces":[...],"notes"} for --all-netns.
func namespacesRun(o *Options, m *model.MultiSnapshot) error {
	if o.Namespaces.All && len(m.Namespaces) == 0 {
		return allSkipped(o, m.Notes)
	}
	if f, _ := newFilter(o); f.active() {
		for _, ns := range m.Namespaces {
			f.apply(ns.Snapshot)
		}
	}
	switch {
	case o.Output == "prom":
		for _, n := range m.Notes {
			o.IO.Note(n)
		}
		return metrics.WriteText(o.IO.Out, m, metrics.DefaultMaxListeners)
	case o.Output == "json" && o.Namespaces.All:
		return cmdutil.PrintData(o.IO, m)
	case o.Output == "json":
		return cmdutil.PrintData(o.IO, m.Namespaces[0])
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
		o.IO.Note(n)
	}
	return nil
}

func hintText(h string) string {
	if h == "" {
		return ""
	}
	return " (" + h + ")"
}

// allSkipped is --all-netns reading nothing at all (typically without root,
// which entering another namespace needs): it prints what was skipped and
// fails with exit 3 rather than printing an empty report and exiting 0.
func allSkipped(o *Options, notes []string) error {
	for _, n := range notes {
		o.IO.Note(n)
	}
	if len(notes) == 0 {
		return cmdutil.EnvError(errors.New("--all-netns: no network namespace found to read"))
	}
	return cmdutil.EnvError(fmt.Errorf("--all-netns: none of the %d network namespaces found could be read (see the notes above); entering a namespace needs root (CAP_SYS_ADMIN)", len(notes)))
}
