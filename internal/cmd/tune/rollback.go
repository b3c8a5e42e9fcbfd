package tune

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/sysctl"
)

// rollbackRun restores the values (and the persisted file) recorded by the
// last apply, all or nothing.
func rollbackRun(o *Options) error {
	sys := sysctl.NewFS(o.SysRoot)
	netns, _ := sysctl.NetnsInode(o.ProcRoot)
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
	if err := rollbackable(state, sys, netns); err != nil {
		return cmdutil.EnvError(err)
	}
	plan, drift, err := restorePlan(state, sys)
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
	warn(o, r, drift...)

	// Newest first: the reverse of the order the apply wrote in.
	settings := make([]sysctl.Setting, 0, len(state.Steps))
	for i := len(state.Steps) - 1; i >= 0; i-- {
		settings = append(settings, sysctl.Setting{Key: state.Steps[i].Key, Value: state.Steps[i].Previous})
	}
	if _, err := sys.Prepare(settings); err != nil {
		return writeError(err)
	}
	if err := confirm(o, fmt.Sprintf("Restore %d value(s) recorded at %s?", len(settings), state.Time.Format(time.RFC3339))); err != nil {
		return err
	}
	txn, err := sys.Prepare(settings)
	if err != nil {
		return writeError(err)
	}
	// The file first: if restoring it fails, no live value has changed yet.
	putBack, err := restorePersisted(state.Persist)
	if err != nil {
		return cmdutil.EnvError(fmt.Errorf("%w; nothing was changed", err))
	}
	if err := o.commit(txn); err != nil {
		if perr := putBack(); perr != nil {
			err = fmt.Errorf("%w; and putting back %s failed: %v", err, state.Persist.File, perr)
		}
		return cmdutil.EnvError(err)
	}
	if state.Persist != nil {
		r.Persisted = state.Persist.File
	}
	now := time.Now().UTC()
	state.Status, state.RolledBack = sysctl.StatusRolledBack, &now
	if err := sysctl.SaveState(o.StateDir, state); err != nil {
		warn(o, r, fmt.Sprintf("could not mark the apply as rolled back: %v", err))
	}
	r.Done = true
	summary := fmt.Sprintf("restored %d value(s) recorded at %s", len(settings), state.Time.Format(time.RFC3339))
	if r.Persisted != "" {
		summary += "; restored " + r.Persisted
	}
	return renderResult(o, r, summary)
}

// rollbackable refuses records that must not be replayed here.
func rollbackable(s sysctl.State, sys sysctl.FS, netns uint64) error {
	when := s.Time.Format(time.RFC3339)
	switch s.Status {
	case sysctl.StatusRolledBack:
		return fmt.Errorf("nothing to roll back: the last apply (%s) was already rolled back", when)
	case sysctl.StatusFailed:
		return fmt.Errorf("nothing to roll back: the last apply (%s) failed and its changes were already undone", when)
	}
	if s.SysRoot != sys.Root() {
		return fmt.Errorf("the last apply (%s) wrote under %s, not %s: roll back with the same root", when, s.SysRoot, sys.Root())
	}
	if s.Netns == 0 || netns == 0 || s.Netns == netns {
		return nil
	}
	for _, st := range s.Steps {
		if k, ok := sysctl.Lookup(st.Key); !ok || k.Scope == sysctl.ScopeNetns {
			return fmt.Errorf("the last apply (%s) changed network namespace netns:[%d], this is netns:[%d]: run the rollback in that namespace (nsenter --net)", when, s.Netns, netns)
		}
	}
	return nil
}

// restorePlan shows the rollback as changes from the values now to the
// recorded previous ones, warning about keys changed since the apply.
func restorePlan(s sysctl.State, sys sysctl.FS) (advise.Plan, []string, error) {
	var plan advise.Plan
	var drift []string
	for _, st := range s.Steps {
		now, err := sys.ReadInt(st.Key)
		if err != nil {
			return plan, nil, err
		}
		prev, err := strconv.ParseInt(st.Previous, 10, 64)
		if err != nil {
			return plan, nil, fmt.Errorf("state file: %s previous value %q is not an integer", st.Key, st.Previous)
		}
		if applied, err := strconv.ParseInt(st.Value, 10, 64); err == nil && applied != now {
			drift = append(drift, fmt.Sprintf("%s was changed to %d after the apply set it to %d; restoring %d anyway", st.Key, now, applied, prev))
		}
		k, _ := sysctl.Lookup(st.Key)
		plan.Changes = append(plan.Changes, advise.Change{
			Key: st.Key, Current: &now, Target: prev, Scope: k.Scope,
			Reason: "value before the apply of " + s.Time.Format(time.RFC3339),
		})
	}
	return plan, drift, nil
}

// restorePersisted puts the persisted file back as it was before the apply
// (removing it if it did not exist) and returns how to undo that.
func restorePersisted(p *sysctl.PersistRecord) (func() error, error) {
	if p == nil {
		return func() error { return nil }, nil
	}
	current, err := os.ReadFile(p.File)
	existed := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", p.File, err)
	}
	putBack := func() error {
		if existed {
			return sysctl.WriteFileAtomic(p.File, current)
		}
		return removeIfExists(p.File)
	}
	if p.Previous != nil {
		err = sysctl.WriteFileAtomic(p.File, []byte(*p.Previous))
	} else {
		err = removeIfExists(p.File)
	}
	if err != nil {
		return nil, err
	}
	return putBack, nil
}

func removeIfExists(file string) error {
	if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", file, err)
	}
	return nil
}
