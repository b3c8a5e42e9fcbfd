package tune

import (
	"fmt"
	"strconv"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/tableprinter"
	"github.com/backlogctl/backlogctl/sysctl"
)

// Row is one line of the diff.
type Row struct {
	advise.Change
	// Netns is the network namespace inode a per-netns key lives in; 0 for
	// global keys or when unknown.
	Netns  uint64 `json:"netns,omitempty"`
	Lowers bool   `json:"lowers,omitempty"`
}

// Report is what tune prints: the diff, and what was done about it. The JSON
// form marshals this struct; the table is drawn from it.
type Report struct {
	// Action is "plan" (nothing changed), "apply" or "rollback".
	Action  string `json:"action"`
	Netns   uint64 `json:"netns,omitempty"`
	Changes []Row  `json:"changes"`
	// Done is true once every change was written and read back.
	Done bool `json:"done"`
	// StateFile records the previous values (apply) or was restored from (rollback).
	StateFile string `json:"state_file,omitempty"`
	// Persisted is the sysctl.d file written (apply) or restored (rollback).
	Persisted string `json:"persisted,omitempty"`
	// Undo is the command that undoes an apply, with the --netns and
	// --state-dir it was given.
	Undo string `json:"undo,omitempty"`
	// Relisten are the listeners a somaxconn raise does not reach until
	// their program calls listen() again.
	Relisten []advise.Relisten `json:"relisten,omitempty"`
	Warnings []string          `json:"warnings,omitempty"`
}

// newReport turns a plan into rows, tagging per-netns keys with netns.
func newReport(action string, p advise.Plan, netns uint64) *Report {
	r := &Report{Action: action, Netns: netns, Changes: []Row{}}
	for _, c := range p.Changes {
		row := Row{Change: c, Lowers: c.Lowers()}
		if c.Scope == sysctl.ScopeNetns {
			row.Netns = netns
		}
		r.Changes = append(r.Changes, row)
	}
	return r
}

// scopeText is "netns:[4026531840]", "netns" when the inode is unknown, or "global".
func scopeText(r Row) string {
	switch {
	case r.Scope == sysctl.ScopeGlobal:
		return "global"
	case r.Netns != 0:
		return fmt.Sprintf("netns:[%d]", r.Netns)
	default:
		return string(r.Scope)
	}
}

// renderDiff draws the changes: on a terminal aligned, piped tab-separated.
func renderDiff(o *Options, r *Report) error {
	if len(r.Changes) == 0 {
		fmt.Fprintln(o.IO.Out, "nothing to change: every key already has its planned value")
		return nil
	}
	t := tableprinter.For(o.IO.Out, o.IO, "KEY", "CURRENT", "NEW", "SCOPE", "WHY").WrapColumn("WHY").DropColumns("SCOPE")
	for _, c := range r.Changes {
		cur := "absent"
		if c.Current != nil {
			cur = strconv.FormatInt(*c.Current, 10)
		}
		why := c.Reason
		if c.Lowers && r.Action == "plan" && !o.AllowLower {
			why += " (lowers the value: needs --allow-lower)"
		}
		t.AddRow(c.Key, cur, strconv.FormatInt(c.Target, 10), scopeText(c), why)
	}
	return t.Render()
}

// renderResult prints the report: the whole of it as JSON, or the warnings
// and a closing line for people.
func renderResult(o *Options, r *Report, summary string) error {
	if o.Output == "json" {
		return cmdutil.PrintData(o.IO, r)
	}
	if summary != "" {
		fmt.Fprintln(o.IO.ErrOut, summary)
	}
	return nil
}

// warn prints warnings at once for people; JSON carries them in the report.
func warn(o *Options, r *Report, msgs ...string) {
	r.Warnings = append(r.Warnings, msgs...)
	if o.Output != "json" {
		for _, m := range msgs {
			o.IO.Warn(m)
		}
	}
}
