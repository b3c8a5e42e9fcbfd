package tune

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/sysctl"
)

// rollbackRun restores the values (and the persisted file) recorded by the
// last change. It restores every value it can: one it cannot stays owed in
// the record, for the next --rollback to try again.
func rollbackRun(o *Options) error {
	sys := sysctl.NewFS(o.Roots.Sys)
	netns, _ := sysctl.NetnsInode(o.Roots.Proc)
	lock, err := sysctl.AcquireLock(o.StateDir)
	if err != nil {
		return cmdutil.EnvError(err)
	}
	defer lock.Release()
	state, err := sysctl.LoadState(o.StateDir)
	if errors.Is(err, sysctl.ErrNoState) {
		return cmdutil.EnvError(fmt.Errorf("nothing to roll back: %w", err))
	}
	if err != nil {
		return cmdutil.EnvError(err)
	}
	// Every field is checked before any is acted on.
	if err := state.Check(sysctl.RecordRules{PersistDirs: o.Search.Dirs, AllowUnknown: o.Force}); err != nil {
		if errors.Is(err, sysctl.ErrUnknownKey) {
			return cmdutil.UsageErrorf("%v (in %s); nothing was changed", err, filepath.Join(o.StateDir, sysctl.StateFile))
		}
		return cmdutil.EnvError(fmt.Errorf("%s: %w; refusing to act on it, nothing was changed", filepath.Join(o.StateDir, sysctl.StateFile), err))
	}
	if err := rollbackable(state, sys, netns); err != nil {
		return cmdutil.EnvError(err)
	}
	owed := state.RollbackSteps()
	plan, notes, err := restorePlan(state, owed, sys)
	if err != nil {
		return cmdutil.EnvError(err)
	}
	r := newReport("rollback", plan, netns)
	r.StateFile = filepath.Join(o.StateDir, sysctl.StateFile)
	if o.Output != "json" {
		if err := renderDiff(o, r); err != nil {
			return err
		}
	}
	warn(o, r, notes...)
	if err := confirm(o, fmt.Sprintf("Restore %d value(s) recorded at %s?", len(owed), state.Time.Format(time.RFC3339))); err != nil {
		return err
	}
	// A signal now waits until every value has been tried: restoring is
	// what an interrupted operator wants anyway.
	guard := cmdutil.DeferSignals()
	defer guard.Stop()
	// The files first: if restoring one fails, no live value has changed yet.
	var restoredFiles []string
	for _, p := range state.RollbackPersists() {
		restored, left, err := sysctl.RestorePersist(p)
		if err != nil {
			return cmdutil.EnvError(fmt.Errorf("%w; no live value was changed", err))
		}
		if left != "" {
			warn(o, r, left)
		}
		if restored {
			restoredFiles = append(restoredFiles, p.File)
		}
	}
	if o.BeforeRestore != nil {
		o.BeforeRestore()
	}
	_, rerr := sys.Restore(owed)
	if rerr != nil {
		state.Status, state.Owed = sysctl.StatusFailed, sysctl.OwedAfter(rerr)
		if err := sysctl.SaveState(o.StateDir, state); err != nil {
			rerr = fmt.Errorf("%w; and recording that failed too: %v", rerr, err)
		}
		return cmdutil.EnvError(fmt.Errorf("rolling back %s: %w; they stay owed in %s: run `%s` again once they can be written",
			state.What(), rerr, r.StateFile, sysctl.RollbackCommand))
	}
	r.Persisted = strings.Join(restoredFiles, ", ")
	now := time.Now().UTC()
	state.Status, state.RolledBack, state.Owed = sysctl.StatusRolledBack, &now, nil
	if err := sysctl.SaveState(o.StateDir, state); err != nil {
		warn(o, r, fmt.Sprintf("could not mark the apply as rolled back: %v", err))
	}
	r.Done = true
	summary := fmt.Sprintf("restored %d value(s) recorded at %s", len(owed), state.Time.Format(time.RFC3339))
	if r.Persisted != "" {
		summary += "; restored " + r.Persisted
	}
	if guard.Err() != nil {
		return cmdutil.EnvError(fmt.Errorf("%s; then %w", summary, guard.Err()))
	}
	return renderResult(o, r, summary)
}

// rollbackable refuses records that must not be replayed here.
func rollbackable(s sysctl.State, sys sysctl.FS, netns uint64) error {
	when := s.Time.Format(time.RFC3339)
	switch {
	case s.Status == sysctl.StatusRolledBack:
		return fmt.Errorf("nothing to roll back: %s was already rolled back", s.What())
	case s.Status == sysctl.StatusFailed && len(s.Owed) == 0:
		return fmt.Errorf("nothing to roll back: %s failed and its changes were already undone", s.What())
	}
	if s.SysRoot != sys.Root() {
		return fmt.Errorf("the last apply (%s) wrote under %s, not %s: roll back with the same root", when, s.SysRoot, sys.Root())
	}
	if s.Netns == 0 || netns == 0 || s.Netns == netns {
		return nil
	}
	for _, st := range s.RollbackSteps() {
		if k, ok := sysctl.Lookup(st.Key); !ok || k.Scope == sysctl.ScopeNetns {
			return fmt.Errorf("the last apply (%s) changed network namespace netns:[%d], this is netns:[%d]: run the rollback in that namespace (nsenter --net)", when, s.Netns, netns)
		}
	}
	return nil
}

// restorePlan shows the rollback as changes from the values now to the
// recorded previous ones, with notes about keys changed since the apply and
// values that are not single numbers (a port range set with sysctl set
// --force), which are restored but not drawn as a diff row.
func restorePlan(s sysctl.State, steps []sysctl.Step, sys sysctl.FS) (advise.Plan, []string, error) {
	var plan advise.Plan
	var notes []string
	for _, st := range steps {
		text, err := sys.ReadString(st.Key)
		if err != nil {
			return plan, nil, err
		}
		now, err1 := strconv.ParseInt(text, 10, 64)
		prev, err2 := strconv.ParseInt(st.Previous, 10, 64)
		if err1 != nil || err2 != nil {
			notes = append(notes, fmt.Sprintf("%s: restoring %q (now %q)", st.Key, st.Previous, text))
			continue
		}
		if !sysctl.SameValue(text, st.Value) && !sysctl.SameValue(text, st.Previous) {
			notes = append(notes, fmt.Sprintf("%s was changed to %s after the apply set it to %s; restoring %d anyway", st.Key, text, st.Value, prev))
		}
		k, _ := sysctl.Lookup(st.Key)
		plan.Changes = append(plan.Changes, advise.Change{
			Key: st.Key, Current: &now, Target: prev, Scope: k.Scope,
			Reason: "value before " + s.What(),
		})
	}
	return plan, notes, nil
}
