package tune

import (
	"fmt"
	"strconv"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/internal/tableprinter"
	"github.com/backlogctl/backlogctl/model"
)

// relisten lists the listeners a planned somaxconn raise will not reach
// until their program calls listen() again (advise.StaysClamped), judged
// from the same snapshot advise's findings come from.
func relisten(o *Options, plan advise.Plan) ([]advise.Relisten, error) {
	for _, c := range plan.Changes {
		if c.Key != "net.core.somaxconn" || c.Current == nil || c.Target <= *c.Current {
			continue
		}
		in, err := o.evidence()
		if err != nil {
			return nil, err
		}
		return advise.StaysClamped(in.Now.Snapshot, model.SysctlChange{Key: c.Key, From: *c.Current, To: c.Target}, in.Units), nil
	}
	return nil, nil
}

// renderRelisten draws the listeners that keep their old backlog.
func renderRelisten(o *Options, r *Report) error {
	if len(r.Relisten) == 0 || o.Output == "json" {
		return nil
	}
	verb := "will keep"
	if r.Done {
		verb = "keep"
	}
	fmt.Fprint(o.IO.Out, "\n"+tableprinter.Paragraph(fmt.Sprintf("Listeners at backlog %d, the old somaxconn: they %s it until their program calls listen() again (unless it asks for exactly %d)",
		r.Relisten[0].Backlog, verb, r.Relisten[0].Backlog), o.IO.TerminalWidth(), "# ", "# "))
	t := tableprinter.For(o.IO.Out, o.IO, "LISTENER", "BACKLOG", "OWNER", "UNIT", "RESTART").WrapColumn("RESTART").DropColumns("UNIT").CutColumns("LISTENER", "OWNER")
	for _, l := range r.Relisten {
		t.AddRow(l.Listener, strconv.FormatUint(uint64(l.Backlog), 10), dash(l.Owner), dash(l.Unit), l.Restart)
	}
	return t.Render()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
