package check

import (
	"time"

	"github.com/backlogctl/backlogctl/check"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
)

// Report is what check prints, in every format; -o json marshals it.
type Report struct {
	Time time.Time `json:"time"`
	// Status is the overall verdict: fail if any failed, else error if any
	// could not be evaluated, else pass.
	Status   check.Status   `json:"status"`
	ExitCode int            `json:"exit_code"`
	Summary  Summary        `json:"summary"`
	Window   *check.Window  `json:"window,omitempty"`
	Results  []check.Result `json:"results"`
	Warnings []string       `json:"warnings,omitempty"`
}

// Summary counts the verdicts.
type Summary struct {
	Passed int `json:"passed"`
	Failed int `json:"failed"`
	Errors int `json:"errors"`
}

func newReport(results []check.Result, obs *check.Observation) *Report {
	r := &Report{Time: time.Now().UTC(), Results: results, Window: obs.Window, Warnings: obs.Warnings}
	for _, res := range results {
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
	return r
}
