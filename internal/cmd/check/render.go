package check

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/backlogctl/backlogctl/check"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/tableprinter"
)

func render(io *iostreams.IOStreams, format string, r *Report) error {
	switch format {
	case cmdutil.OutputTable:
		return renderText(io, r)
	case "json":
		return cmdutil.PrintData(io, r)
	case "junit":
		return renderJUnit(io.Out, r)
	case "github":
		return renderGitHub(io.Out, r)
	default:
		return cmdutil.UsageErrorf("invalid --output %q", format)
	}
}

// renderText prints one row per requirement: STATUS SUBJECT OBSERVED EXPECTED REASON.
// With --netns or --all-netns a NETNS column comes first.
func renderText(io *iostreams.IOStreams, r *Report) error {
	cols := []string{"STATUS", "SUBJECT", "OBSERVED", "EXPECTED", "REASON"}
	labelled := r.labelled()
	if labelled {
		cols = append([]string{"NETNS"}, cols...)
	}
	// A narrow terminal prints the reasons under the table, as paragraphs.
	t := tableprinter.For(io.Out, io, cols...).WrapColumn("REASON").WrapAtLeast(30).WrapBelow(len(cols)-3).
		CutColumns("OBSERVED", "NETNS")
	for _, res := range r.Results {
		row := []string{strings.ToUpper(string(res.Status)), res.Subject, observedText(res),
			string(res.Op) + " " + res.Expected, res.Reason}
		if labelled {
			row = append([]string{res.Netns}, row...)
		}
		t.AddRow(row...)
	}
	return t.Render()
}

// labelled reports whether results carry a namespace label.
func (r *Report) labelled() bool {
	return len(r.Results) > 0 && r.Results[0].Netns != ""
}

// caseName is a result's name in JUnit and GitHub output: the requirement,
// after its namespace label and a colon when it has one.
func caseName(res check.Result) string {
	if res.Netns == "" {
		return res.Requirement
	}
	return res.Netns + ": " + res.Requirement
}

// unlimited is RLIM_INFINITY as a descriptor limit reads.
const unlimited = "18446744073709551615"

// observedText is the observed value with where it was seen, and for a
// window whether it is an increase or a peak: "3 (increase, 127.0.0.1:80)".
func observedText(res check.Result) string {
	if !res.Evaluated {
		return "-"
	}
	var notes []string
	if res.Windowed {
		if isIncrease(res.Subject) {
			notes = append(notes, "increase")
		} else {
			notes = append(notes, "peak")
		}
	}
	if res.Where != "" {
		notes = append(notes, res.Where)
	}
	if n := len(res.Failing); n > 1 {
		notes = append(notes, fmt.Sprintf("%d failing", n))
	}
	val := roundedText(res.Observed.String(), res.Expected)
	if val == unlimited {
		val = "unlimited"
	}
	if len(notes) == 0 {
		return val
	}
	return fmt.Sprintf("%s (%s)", val, strings.Join(notes, ", "))
}

// roundedText shows a fraction to 4 significant digits (a fill of 4/4097 is
// 0.0009763, not 0.0009763241396143519); JSON keeps the exact value. When
// rounding would make it read as the expected value it is not (0.80002
// against 0.8), it is left whole.
func roundedText(observed, expected string) string {
	if !strings.ContainsAny(observed, ".eE") {
		return observed
	}
	f, err := strconv.ParseFloat(observed, 64)
	if err != nil {
		return observed
	}
	short, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 4, 64), 64)
	if e, err := strconv.ParseFloat(expected, 64); err == nil && short == e && f != e {
		return observed
	}
	return strconv.FormatFloat(short, 'f', -1, 64)
}

// isIncrease tells windowed counters and drops (increases) from queues (peaks).
func isIncrease(subject string) bool {
	return strings.HasPrefix(subject, "counter.") || subject == "listener.drops"
}

// message is the one-line account of a result used by junit and github.
func message(res check.Result) string {
	if !res.Evaluated {
		return "not evaluated: " + res.Reason
	}
	m := fmt.Sprintf("observed %s, expected %s %s", observedText(res), res.Op, res.Expected)
	if len(res.Failing) > 1 {
		failing := make([]string, len(res.Failing))
		for i, f := range res.Failing {
			// WHERE=VALUE, the value rounded as the observed one is.
			if j := strings.LastIndexByte(f, '='); j >= 0 {
				f = f[:j+1] + roundedText(f[j+1:], res.Expected)
			}
			failing[i] = f
		}
		m += "; failing: " + strings.Join(failing, " ")
	}
	if res.Reason != "" {
		m += ": " + res.Reason
	}
	return m
}
