package advise

import (
	"errors"
	"fmt"

	"github.com/backlogctl/backlogctl/internal/cmdutil"
)

// multiReport is advise --all-netns's JSON: one report per namespace.
type multiReport struct {
	Namespaces []*Report `json:"namespaces"`
	Notes      []string  `json:"notes,omitempty"`
}

// renderNamespaces prints the reports of --netns or --all-netns, each
// namespace judged on its own: --netns prints as advise does without it,
// with a "netns" field; --all-netns prints one report per namespace, each
// under its label (JSON: {"namespaces": [...], "notes"}).
func (o *Options) renderNamespaces(reps []*Report, notes []string) error {
	if !o.Namespaces.All {
		return o.render(reps[0])
	}
	if len(reps) == 0 {
		return cmdutil.EnvError(errors.New("--all-netns: no network namespace could be read (entering one needs root)"))
	}
	if o.Output == "json" {
		return cmdutil.PrintData(o.IO, multiReport{Namespaces: reps, Notes: notes})
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
		o.IO.Note(n)
	}
	return nil
}
