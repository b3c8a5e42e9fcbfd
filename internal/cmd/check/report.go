package check

import (
	"time"

	"github.com/backlogctl/backlogctl/check"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/model"
)

// Report is what check prints, in every format; -o json marshals it.
type Report struct {
	Time time.Time `json:"time"`
	// Status is the overall verdict: fail if any failed, else error if any
	// could not be evaluated, else pass.
	Status   check.Status      `json:"status"`
	ExitCode int               `json:"exit_code"`
	Summary  Summary           `json:"summary"`
	Window   *model.WindowInfo `json:"window,omitempty"`
	Results  []check.Result    `json:"results"`
	Warnings []string          `json:"warnings,omitempty"`
	// Notes say which network namespaces --all-netns skipped, and why.
	Notes []string `json:"notes,omitempty"`
}

// Summary counts the verdicts.
type Summary struct {
	Passed int `json:"passed"`
	Failed int `json:"failed"`
	Errors int `json:"errors"`
}

// add takes one observation's results; warnings from a namespace are
// prefixed with its label.
func (r *Report) add(results []check.Result, obs *model.Observation, label string) {
	r.Results = append(r.Results, results...)
	if r.Window == nil {
		r.Window = obs.Window
	}
	for _, w := range obs.Warnings {
		if label != "" {
			w = label + ": " + w
		}
		r.Warnings = append(r.Warnings, w)
	}
}

// judge counts the verdicts and sets the overall status and exit code: the
// worst over every result, in every namespace.
func (r *Report) judge() {
	r.Summary = Summary{}
	for _, res := range r.Results {
		switch res.Status {
		case check.StatusPass:
			r.Summary.Passed++
		case check.StatusFail:
			r.Summary.Failed++
		default:
			r.Summary.Errors++
		}
	}
	// A proven failure outranks one that could not be judged.
	switch {
	case r.Summary.Failed > 0:
		r.Status, r.ExitCode = check.StatusFail, cmdutil.ExitFailed
	case r.Summary.Errors > 0:
		r.Status, r.ExitCode = check.StatusError, cmdutil.ExitEnv
	default:
		r.Status, r.ExitCode = check.StatusPass, cmdutil.ExitOK
	}
}
