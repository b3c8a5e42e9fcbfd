package advise

import (
	"errors"
	"fmt"

	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/netns"
)

// multiReport is advise --all-netns's JSON: one report per namespace.
type multiReport struct {
	Namespaces []*Report `json:"namespaces"`
	Notes      []string  `json:"notes,omitempty"`
}

// runNamespaces judges each namespace --netns or --all-netns names on its
// own, through the one fan-out: the snapshot is taken inside it
// (inspect.GatherIn), owners and host facts (softnet, memory, units) from
// the host's /proc. --netns prints as advise does without it, with a
// "netns" field; --all-netns prints one report per namespace, each under
// its label (JSON: {"namespaces": [...], "notes"}).
func (o *Options) runNamespaces() error {
	nss, notes, err := o.Namespaces.Namespaces(o.Roots)
	if err != nil {
		return err
	}
	var reps []*Report
	notes = append(notes, netns.Each(nss, func(ns netns.Namespace) error {
		in := *o
		in.Gather = func(opts inspect.Options) (*inspect.Snapshot, error) { return inspect.GatherIn(ns, opts) }
		r, err := in.report()
		if err != nil {
			return err
		}
		r.Netns = &ns
		reps = append(reps, r)
		return nil
	})...)
	if !o.Namespaces.All {
		if len(reps) == 0 {
			return cmdutil.EnvError(fmt.Errorf("--netns %s: %s", o.Namespaces.Netns, notes[0]))
		}
		return o.render(reps[0])
	}
	if len(reps) == 0 {
		return cmdutil.EnvError(errors.New("--all-netns: no network namespace could be read (entering one needs root)"))
	}
	if o.Output == "json" {
		return cmdutil.WriteJSON(o.IO.Out, multiReport{Namespaces: reps, Notes: notes})
	}
	for i, r := range reps {
		if i > 0 {
			fmt.Fprintln(o.IO.Out)
		}
		fmt.Fprintf(o.IO.Out, "## %s\n", r.Netns.Label())
		if err := o.render(r); err != nil {
			return err
		}
	}
	for _, n := range notes {
		fmt.Fprintf(o.IO.ErrOut, "note: %s\n", n)
	}
	return nil
}
