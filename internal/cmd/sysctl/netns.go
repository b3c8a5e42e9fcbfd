package sysctl

import (
	"errors"
	"fmt"

	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nsflag"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/sysctl"
)

// NamespaceValues are one network namespace's values, as get --all-netns
// prints them.
type NamespaceValues struct {
	Netns  model.Namespace `json:"netns"`
	Values []Value         `json:"values"`
}

// getAllReport is get --all-netns's JSON.
type getAllReport struct {
	Namespaces []NamespaceValues `json:"namespaces"`
	Notes      []string          `json:"notes,omitempty"`
}

// getIn reads the keys inside the namespaces --netns or --all-netns name,
// through the one fan-out. /proc/sys/net belongs to the namespace of the
// thread that opens it, so the reads run on a thread that entered it.
// --netns prints as get does without it; --all-netns prints each namespace
// under its label.
func getIn(o *GetOptions) error {
	nss, notes, err := o.Namespaces.Namespaces(o.Roots)
	if err != nil {
		return err
	}
	rep := getAllReport{Namespaces: []NamespaceValues{}}
	var firstErr error
	notes = append(notes, collect.Inside(nss, func(ns model.Namespace) error {
		vals, readErr := readValues(o)
		rep.Namespaces = append(rep.Namespaces, NamespaceValues{Netns: ns, Values: vals})
		if readErr != nil && firstErr == nil {
			firstErr = fmt.Errorf("in %s: %w", ns.Label(), readErr)
		}
		return nil
	})...)
	if !o.Namespaces.All {
		if len(rep.Namespaces) == 0 {
			return cmdutil.EnvError(fmt.Errorf("--netns %s: %s", o.Namespaces.Netns, notes[0]))
		}
		if err := printValues(o.IO, o.Output, o.ValuesOnly, rep.Namespaces[0].Values); err != nil {
			return err
		}
		return firstErr
	}
	rep.Notes = notes
	if err := printNamespaces(o.IO, o.Output, o.ValuesOnly, rep); err != nil {
		return err
	}
	if firstErr != nil {
		return firstErr
	}
	if len(rep.Namespaces) == 0 {
		return cmdutil.EnvError(errors.New("--all-netns: no network namespace could be read (entering one needs root)"))
	}
	return nil
}

// printNamespaces writes each namespace's values under a "netns LABEL:"
// line, or JSON; notes go to stderr in the table form.
func printNamespaces(io *iostreams.IOStreams, output string, valuesOnly bool, rep getAllReport) error {
	if output == "json" {
		return cmdutil.PrintData(io, rep)
	}
	for _, ns := range rep.Namespaces {
		fmt.Fprintf(io.Out, "%s:\n", ns.Netns.Label())
		if err := printValues(io, output, valuesOnly, ns.Values); err != nil {
			return err
		}
	}
	for _, n := range rep.Notes {
		io.Note(n)
	}
	return nil
}

// checkWriteNamespaces refuses --all-netns for a write, and with --netns a
// key that is not per network namespace: a global key has one value for the
// host, which no namespace can change for itself. It is checked here by the
// key's name, and again by the run inside the namespace (checkInside), which
// can also tell whether that namespace is the host's own.
func checkWriteNamespaces(o *SetOptions) error {
	if o.Namespaces.All {
		return cmdutil.UsageErrorf("sysctl set writes one network namespace at a time: --all-netns is refused (give --netns NAME for each)")
	}
	if o.Namespaces.Netns == "" {
		return nil
	}
	return checkScopes(o.settings, false)
}

// checkInside is checkWriteNamespaces in the run nsflag.RunInside started
// inside the --netns namespace.
func checkInside(o *SetOptions) error {
	if _, inside := nsflag.Inside(); !inside {
		return nil
	}
	return checkScopes(o.settings, sysctl.NewFS(o.Roots.Sys).InitNetns())
}

func checkScopes(settings []sysctl.Setting, hostNetns bool) error {
	for _, s := range settings {
		if err := sysctl.CheckNetnsScope(s.Key, hostNetns); err != nil {
			return cmdutil.UsageErrorf("%v; nothing was changed", err)
		}
	}
	return nil
}

// setIn runs set again inside the --netns namespace (nsflag.RunInside), so
// the record of the change names that namespace and tune --rollback
// restores it there.
func setIn(o *SetOptions) error {
	return o.Namespaces.RunInside(o.Roots, o.IO.In, o.IO.Out, o.IO.ErrOut)
}
