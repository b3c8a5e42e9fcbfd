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
	w, tty := io.Out, io.IsStdoutTTY()
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
		t := tableprinter.New(w, tty, header...).
			SetWidth(io.TerminalWidth()).WrapColumn("EVIDENCE")
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
			fmt.Fprintf(w, "%d. %s %s%s\n   why: %s\n", i+1, f.ID, f.Subject, where, f.Reason)
			if f.Fix != "" {
				fmt.Fprintf(w, "   fix: %s\n", f.Fix)
			}
		}
	}
	if r.IntervalSeconds == 0 {
		since := "since boot"
		if r.ChildNetns {
			since = "since this network namespace was created"
		}
		fmt.Fprintf(w, "\nCounters were judged by their totals %s and drop counts by theirs since each socket was created (history, not evidence); --interval 10s judges what changes.\n", since)
	}
	if len(r.Plan.Changes) > 0 {
		fmt.Fprintln(w, "\n# Sysctl changes recommended (backlogctl tune applies them)")
		t := tableprinter.New(w, tty, "KEY", "CURRENT", "TARGET", "SCOPE", "REASON").SetWidth(io.TerminalWidth()).WrapColumn("REASON")
		for _, c := range r.Plan.Changes {
			t.AddRow(c.Key, valueText(c.Current), strconv.FormatInt(c.Target, 10), string(c.Scope), c.Reason)
		}
		if err := t.Render(); err != nil {
			return err
		}
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(io.ErrOut, "backlogctl: warning: %s\n", warn)
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
