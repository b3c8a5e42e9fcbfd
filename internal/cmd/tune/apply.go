package tune

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/nsflag"
	"github.com/backlogctl/backlogctl/sysctl"
)

// applyRun plans, shows the diff and, with --apply, makes the changes.
func applyRun(o *Options) error {
	fs := sysctl.NewFS(o.Roots.Sys)
	netns, _ := sysctl.NetnsInode(o.Roots.Proc) // 0: shown as plain "netns"
	if o.Apply {
		lock, err := sysctl.AcquireLock(o.StateDir)
		if err != nil {
			return cmdutil.EnvError(err)
		}
		defer lock.Release()
		if o.superseded, err = sysctl.CheckResolved(o.StateDir, o.ForceNew); err != nil {
			return cmdutil.EnvError(err)
		}
		if err := sysctl.CheckSupersede(o.superseded, netns, fs.Root()); err != nil {
			return cmdutil.EnvError(err)
		}
	}
	plan, warnings, err := buildPlan(o, fs)
	if err != nil {
		return err
	}
	action := "plan"
	if o.Apply {
		action = "apply"
	}
	r := newReport(action, plan, netns)
	if r.Relisten, err = relisten(o, plan); err != nil {
		warnings = append(warnings, fmt.Sprintf("could not list the listeners a somaxconn raise will not reach: %v", err))
	}
	if o.Apply && !o.AllowLower {
		if low := lowering(plan); len(low) > 0 {
			return cmdutil.LoweringError(describe(low))
		}
	}
	var persist *persistPlan
	if o.Apply && o.PersistFile != "" && len(plan.Changes) > 0 {
		if persist, err = preparePersist(o, plan); err != nil {
			return err
		}
		warnings = append(warnings, persist.warnings...)
	}
	if o.Output != "json" {
		if err := renderDiff(o, r); err != nil {
			return err
		}
	}
	warn(o, r, warnings...)
	if !o.Apply || len(plan.Changes) == 0 {
		if err := renderRelisten(o, r); err != nil {
			return err
		}
		summary := ""
		if !o.Apply && len(plan.Changes) > 0 {
			summary = "dry run: nothing was changed; add --apply to make these changes"
		}
		return renderResult(o, r, summary)
	}
	return makeChanges(o, fs, r, plan, persist)
}

// makeChanges checks every write, asks, records the previous values, writes
// (all or nothing) and persists; a failed persist undoes the live writes.
func makeChanges(o *Options, fs sysctl.FS, r *Report, plan advise.Plan, persist *persistPlan) error {
	settings := make([]sysctl.Setting, 0, len(plan.Changes))
	for _, c := range plan.Changes {
		settings = append(settings, sysctl.Setting{Key: c.Key, Value: strconv.FormatInt(c.Target, 10)})
	}
	// Checked before asking, so a read-only /proc/sys fails before the prompt.
	if _, err := fs.Prepare(settings); err != nil {
		return writeError(err)
	}
	if err := confirm(o, fmt.Sprintf("Apply %d change(s)?", len(settings))); err != nil {
		return err
	}
	// Prepared again: the previous values to record are the ones just before writing.
	txn, err := fs.Prepare(settings)
	if err != nil {
		return writeError(err)
	}
	state := sysctl.State{
		Time: time.Now().UTC(), Command: "tune --apply",
		SysRoot: fs.Root(), Netns: r.Netns, Steps: txn.Steps, Superseded: o.superseded,
	}
	if persist != nil {
		state.Persist = &persist.record
	}
	// From the record to the end, a termination signal waits for the write
	// in progress, then everything written is restored (see exit-codes).
	guard := cmdutil.DeferSignals()
	defer guard.Stop()
	entry, err := sysctl.Begin(o.StateDir, state)
	if err != nil {
		return cmdutil.EnvError(err)
	}
	r.StateFile = entry.File()
	txn.Interrupted = guard.Err
	if err := o.commit(txn); err != nil {
		return cmdutil.EnvError(entry.Fail(err)) // a signal exits 128+signal
	}
	if err := guard.Err(); err != nil {
		return cmdutil.EnvError(entry.Fail(fs.Undo(txn.Steps, err)))
	}
	if persist != nil {
		if err := sysctl.WriteFileAtomic(persist.file, persist.content); err != nil {
			return cmdutil.EnvError(entry.Fail(fs.Undo(txn.Steps, err)))
		}
		r.Persisted = persist.file
	}
	if err := entry.Done(); err != nil {
		warn(o, r, fmt.Sprintf("could not mark the apply as complete: %v", err))
	}
	r.Done = true
	if err := renderRelisten(o, r); err != nil {
		return err
	}
	r.Undo = undoCommand(o)
	summary := fmt.Sprintf("applied %d change(s); previous values recorded in %s (undo: %s)", len(settings), r.StateFile, r.Undo)
	if r.Persisted != "" {
		summary += "; persisted to " + r.Persisted
	}
	return renderResult(o, r, summary)
}

// undoCommand is the command that undoes this apply: tune --rollback with
// the --netns and --state-dir this run was given, for a shell.
func undoCommand(o *Options) string {
	cmd := "backlogctl tune --rollback"
	if ns, inside := nsflag.Inside(); inside {
		cmd += " --netns " + shellWord(ns)
	}
	if o.StateDir != sysctl.DefaultStateDir {
		cmd += " --state-dir " + shellWord(o.StateDir)
	}
	return cmd
}

// shellWord is s as one shell word: as it is when it needs no quoting.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=@%+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// describe lists changes as "net.core.somaxconn from 8192 to 4096", ...
func describe(cs []advise.Change) []string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		parts = append(parts, cmdutil.Lowered(c.Key, *c.Current, c.Target))
	}
	return parts
}

// writeError maps a failure found before any write: a bad key is the
// caller's mistake (2), anything else the host's refusal (3).
func writeError(err error) error {
	if sysctl.IsBadInput(err) {
		return cmdutil.UsageErrorf("%v; nothing was changed", err)
	}
	return cmdutil.EnvError(fmt.Errorf("%w; nothing was changed", err))
}
