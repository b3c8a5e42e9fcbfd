package sysctl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// RollbackCommand is the command that resolves a recorded change.
const RollbackCommand = "backlogctl tune --rollback"

// OwedSteps are the steps whose previous value a rollback of s still has to
// restore: every step of an apply that was interrupted ("applying") or
// completed ("applied"), the Owed keys of a failed one, none once rolled back.
func (s State) OwedSteps() []Step {
	switch s.Status {
	case StatusApplying, StatusApplied:
		return s.Steps
	case StatusFailed:
		var out []Step
		for _, st := range s.Steps {
			if slices.Contains(s.Owed, st.Key) {
				out = append(out, st)
			}
		}
		return out
	}
	return nil
}

// Unresolved reports whether s left the host half-changed: the run died
// midway ("applying"), or values it changed could not be restored.
func (s State) Unresolved() bool {
	return s.Status == StatusApplying || (s.Status == StatusFailed && len(s.Owed) > 0)
}

// What names the recorded change for messages: `tune --apply at 2026-...`.
func (s State) What() string {
	cmd := s.Command
	if cmd == "" {
		cmd = "tune --apply"
	}
	return fmt.Sprintf("the %s of %s", cmd, s.Time.Format(time.RFC3339))
}

// UnresolvedError refuses a new change while an earlier one still owes
// values: overwriting its record would lose them.
type UnresolvedError struct {
	Dir   string
	State State
}

func (e *UnresolvedError) Error() string {
	keys := make([]string, 0, len(e.State.OwedSteps()))
	for _, st := range e.State.OwedSteps() {
		keys = append(keys, st.Key)
	}
	why := "was interrupted midway"
	if e.State.Status == StatusFailed {
		why = "could not restore what it changed"
	}
	return fmt.Sprintf("%s %s: %s may still differ from the values before it (%s); run `%s --state-dir %s` to restore them, or give --force-new to start a new change anyway (the old record is kept in the new one)",
		e.State.What(), why, strings.Join(keys, ", "), filepath.Join(e.Dir, StateFile), RollbackCommand, e.Dir)
}

// CheckResolved returns nil when a new change may be recorded in dir. When
// the last record is unresolved it returns an *UnresolvedError, or with
// forceNew that record, to be kept as the new one's Superseded.
func CheckResolved(dir string, forceNew bool) (*State, error) {
	s, err := LoadState(dir)
	if errors.Is(err, ErrNoState) {
		return nil, nil
	}
	if err != nil {
		if forceNew {
			return nil, nil // unreadable: nothing to keep, and the run was told to go ahead
		}
		return nil, fmt.Errorf("%w; cannot tell whether the last change left values owed: check it, or give --force-new to start a new record", err)
	}
	if !s.Unresolved() {
		return nil, nil
	}
	if !forceNew {
		return nil, &UnresolvedError{Dir: dir, State: s}
	}
	return &s, nil
}

// RestoreError lists the keys a Restore could not put back.
type RestoreError struct {
	// Restored are the keys put back; NotRestored maps the others to why.
	Restored    []string
	NotRestored map[string]error
}

func (e *RestoreError) Error() string {
	parts := make([]string, 0, len(e.NotRestored))
	for _, k := range e.OwedKeys() {
		parts = append(parts, fmt.Sprintf("%s (%v)", k, e.NotRestored[k]))
	}
	msg := "could NOT restore " + strings.Join(parts, ", ")
	if len(e.Restored) > 0 {
		msg = "restored " + strings.Join(e.Restored, ", ") + "; " + msg
	}
	return msg
}

// OwedKeys are the keys not restored, sorted.
func (e *RestoreError) OwedKeys() []string {
	out := make([]string, 0, len(e.NotRestored))
	for k := range e.NotRestored {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Restore puts each step's key back to its previous value, newest first, and
// keeps going past a key that fails: a rollback restores what it can. Keys
// already at their previous value are left alone. It returns the keys put
// back, and a *RestoreError when some could not be.
func (fs FS) Restore(steps []Step) ([]string, error) {
	var restored []string
	var failed map[string]error
	for i := len(steps) - 1; i >= 0; i-- {
		s := steps[i]
		if cur, err := fs.ReadString(s.Key); err == nil && SameValue(cur, s.Previous) {
			continue
		}
		err := fs.Write(s.Key, s.Previous)
		if err == nil {
			err = (&Txn{fs: fs}).verify(s.Key, s.Previous)
		}
		if err != nil {
			if failed == nil {
				failed = map[string]error{}
			}
			failed[s.Key] = err
			continue
		}
		restored = append(restored, s.Key)
	}
	if failed != nil {
		return restored, &RestoreError{Restored: restored, NotRestored: failed}
	}
	return restored, nil
}

// OwedAfter returns the keys err says were left changed (an *ApplyError's
// NotRestored or a *RestoreError's), sorted; nil when none were.
func OwedAfter(err error) []string {
	var ae *ApplyError
	if errors.As(err, &ae) {
		return (&RestoreError{NotRestored: ae.NotRestored}).OwedKeys()
	}
	var re *RestoreError
	if errors.As(err, &re) {
		return re.OwedKeys()
	}
	return nil
}

// MkdirMode creates dir (and its parents) if missing and gives the
// directories it created mode perm whatever the umask; an existing directory
// keeps its mode.
func MkdirMode(dir string, perm os.FileMode) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := MkdirMode(filepath.Dir(dir), perm); err != nil {
		return err
	}
	if err := os.Mkdir(dir, perm); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // made by someone else meanwhile: theirs to set
		}
		return err
	}
	return os.Chmod(dir, perm)
}

// Entry is a change being made: recorded before its first write, so a crash
// leaves a record that --rollback undoes.
type Entry struct {
	Dir   string
	State State
}

// Begin records state as "applying" in dir; nothing may be written before
// it returns nil.
func Begin(dir string, state State) (*Entry, error) {
	state.Status = StatusApplying
	if err := SaveState(dir, state); err != nil {
		return nil, fmt.Errorf("%w; nothing was changed", err)
	}
	return &Entry{Dir: dir, State: state}, nil
}

// File is the record's path.
func (e *Entry) File() string { return filepath.Join(e.Dir, StateFile) }

// Fail records that the change stopped with err: status failed, and the keys
// err says were not restored as owed, so --rollback keeps trying them and a
// new change refuses to overwrite them. It returns err saying so.
func (e *Entry) Fail(err error) error {
	e.State.Status, e.State.Owed = StatusFailed, OwedAfter(err)
	serr := SaveState(e.Dir, e.State)
	if len(e.State.Owed) > 0 {
		err = fmt.Errorf("%w; %s stay owed in %s: run `%s` to restore them", err,
			strings.Join(e.State.Owed, ", "), e.File(), RollbackCommand)
	}
	if serr != nil {
		err = fmt.Errorf("%w; and recording that failed too: %v", err, serr)
	}
	return err
}

// Done records that every write was made and verified. If that record
// cannot be written the old one says "applying", which --rollback also
// undoes; the error is for a warning.
func (e *Entry) Done() error {
	e.State.Status = StatusApplied
	return SaveState(e.Dir, e.State)
}

// Undo restores steps after a later failure (cause) and returns cause saying
// how that went; a *RestoreError in the chain lists what was not restored.
func (fs FS) Undo(steps []Step, cause error) error {
	if _, err := fs.Restore(steps); err != nil {
		return fmt.Errorf("%w; %w", cause, err)
	}
	return fmt.Errorf("%w; the live changes were undone", cause)
}
