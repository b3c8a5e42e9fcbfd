package advise

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/tableprinter"
)

// renderTable draws the findings as a table, then each one's reason and
// fix, then the sysctl plan.
func renderTable(io *iostreams.IOStreams, r *Report) error {
	w, width := io.Out, io.TerminalWidth()
	fmt.Fprintln(w, "# Findings")
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "no findings")
	} else {
		// A POD column where a finding is about a Kubernetes pod's process,
		// listener or network namespace.
		pods := slices.ContainsFunc(r.Findings, func(f advise.Finding) bool { return f.InPod() })
		header := []string{"#", "SEVERITY", "ID", "SUBJECT", "CURRENT", "RECOMMENDED", "EVIDENCE"}
		if pods {
			header = slices.Insert(header, 4, "POD")
		}
		// The reasons follow the table: a narrow terminal drops the
		// values before the evidence, and shortens the subject last.
		t := tableprinter.For(w, io, header...).WrapColumn("EVIDENCE").WrapAtLeast(30).
			DropColumns("POD", "RECOMMENDED", "CURRENT", "#", "EVIDENCE").CutColumns("SUBJECT", "ID")
		for i, f := range r.Findings {
			row := []string{strconv.Itoa(i + 1), string(f.Severity), f.ID, f.Subject,
				valueText(f.Current), valueText(f.Recommended), evidenceText(f.Evidence)}
			if pods {
				row = slices.Insert(row, 4, cmp.Or(f.Ref(), "-"))
			}
			t.AddRow(row...)
		}
		if err := t.Render(); err != nil {
			return err
		}
		fmt.Fprintln(w)
		for i, f := range r.Findings {
			where := ""
			if f.InPod() {
				where = " in pod " + f.Ref()
			}
			fmt.Fprint(w, tableprinter.Paragraph(fmt.Sprintf("%s %s%s", f.ID, f.Subject, where), width, fmt.Sprintf("%d. ", i+1), "   "))
			fmt.Fprint(w, tableprinter.Paragraph(f.Reason, width, "   why: ", "        "))
			if f.Fix != "" {
				fmt.Fprint(w, tableprinter.Paragraph(f.Fix, width, "   fix: ", "        "))
			}
		}
	}
	if r.IntervalSeconds == 0 {
		since := "since boot"
		if r.ChildNetns {
			since = "since this network namespace was created"
		}
		fmt.Fprint(w, "\n"+tableprinter.Paragraph(fmt.Sprintf("Counters were judged by their totals %s and drop counts by theirs since each socket was created (history, not evidence); --interval 10s judges what changes.", since), width, "", ""))
	}
	if len(r.Plan.Changes) > 0 {
		fmt.Fprintln(w, "\n# Sysctl changes recommended (backlogctl tune applies them)")
		t := tableprinter.For(w, io, "KEY", "CURRENT", "TARGET", "SCOPE", "REASON").WrapColumn("REASON").DropColumns("SCOPE", "CURRENT")
		for _, c := range r.Plan.Changes {
			t.AddRow(c.Key, valueText(c.Current), strconv.FormatInt(c.Target, 10), string(c.Scope), c.Reason)
		}
		if err := t.Render(); err != nil {
			return err
		}
	}
	for _, warn := range r.Warnings {
		io.Warn(warn)
	}
	return nil
}

func valueText(v *int64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatInt(*v, 10)
}

// evidenceText renders evidence as sorted name=value pairs.
func evidenceText(ev map[string]float64) string {
	names := make([]string, 0, len(ev))
	for k := range ev {
		names = append(names, k)
	}
	slices.Sort(names)
	parts := make([]string, 0, len(names))
	for _, k := range names {
		parts = append(parts, k+"="+strconv.FormatFloat(ev[k], 'f', -1, 64))
	}
	return strings.Join(parts, " ")
}
