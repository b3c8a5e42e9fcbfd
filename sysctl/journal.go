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
// midway ("applying"), or values it changed could not be restored, or it
// failed (its own writes undone) over a record it superseded that still
// owes values (--force-new).
func (s State) Unresolved() bool {
	switch s.Status {
	case StatusApplying:
		return true
	case StatusFailed:
		return len(s.Owed) > 0 || (s.carries() && s.Superseded.Unresolved())
	}
	return false
}

// carries reports whether s carries its superseded record's owed values: a
// rollback of s restores them too. Only a record of the same tree and
// network namespace can be carried; another's is kept for the record only.
func (s State) carries() bool {
	sup := s.Superseded
	return sup != nil && s.Status != StatusRolledBack && sup.SysRoot == s.SysRoot &&
		(sup.Netns == 0 || s.Netns == 0 || sup.Netns == s.Netns)
}

// RollbackSteps are what a rollback of s restores: its OwedSteps, each key
// taken back to the value it had before the earliest unresolved change
// s superseded (--force-new), and the keys those changes still owe that s
// did not change. So a rollback after --force-new returns to the values
// before either run, not to the ones the interrupted run left.
func (s State) RollbackSteps() []Step {
	own := s.OwedSteps()
	if !s.carries() {
		return own
	}
	older := s.Superseded.RollbackSteps()
	if len(older) == 0 {
		return own
	}
	orig := make(map[string]string, len(older))
	for _, st := range older {
		orig[st.Key] = st.Previous
	}
	mine := make(map[string]bool, len(own))
	for _, st := range own {
		mine[st.Key] = true
	}
	// Restore goes newest first: s's own steps, then the older ones.
	out := make([]Step, 0, len(own)+len(older))
	for _, st := range older {
		if !mine[st.Key] {
			out = append(out, st)
		}
	}
	for _, st := range own {
		if p, ok := orig[st.Key]; ok {
			st.Previous = p
		}
		out = append(out, st)
	}
	return out
}

// RollbackPersists are the persisted files a rollback of s puts back: the
// one s wrote (not when it failed: it wrote none), with the content from
// before the earliest carried change that wrote the same file, and those
// the carried changes wrote that s did not.
func (s State) RollbackPersists() []PersistRecord {
	var older []PersistRecord
	if s.carries() {
		older = s.Superseded.RollbackPersists()
	}
	if s.Persist == nil || (s.Status != StatusApplying && s.Status != StatusApplied) {
		if s.Status == StatusRolledBack {
			return nil
		}
		return older
	}
	p := *s.Persist
	for i, o := range older {
		if o.File == p.File {
			p.Previous = o.Previous
			older = slices.Delete(older, i, i+1)
			break
		}
	}
	return append([]PersistRecord{p}, older...)
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

// rollbackKeys are the keys a rollback of s restores, in its order.
func (s State) rollbackKeys() []string {
	steps := s.RollbackSteps()
	keys := make([]string, 0, len(steps))
	for _, st := range steps {
		keys = append(keys, st.Key)
	}
	return keys
}

func (e *UnresolvedError) Error() string {
	why := "was interrupted midway"
	switch {
	case e.State.Status == StatusFailed && len(e.State.Owed) > 0:
		why = "could not restore what it changed"
	case e.State.Status == StatusFailed:
		why = "failed over an earlier change that is still unresolved"
	}
	return fmt.Sprintf("%s %s: %s may still differ from the values before it (%s); run `%s --state-dir %s` to restore them, or give --force-new to start a new change anyway (the old record is kept in the new one)",
		e.State.What(), why, strings.Join(e.State.rollbackKeys(), ", "), filepath.Join(e.Dir, StateFile), RollbackCommand, e.Dir)
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

// CheckSupersede refuses to let a change in network namespace netns of
// tree sysRoot supersede (--force-new) sup, an unresolved record of another
// namespace or tree: the new record's rollback could not restore what sup
// owes (that is written in sup's namespace), and once superseded sup could
// no longer be rolled back where it was made. nil sup, or a namespace not
// known on either side (0), is allowed.
func CheckSupersede(sup *State, netns uint64, sysRoot string) error {
	if sup == nil {
		return nil
	}
	where := ""
	switch {
	case sup.SysRoot != sysRoot:
		where = fmt.Sprintf("the tree %s, this run writes %s", sup.SysRoot, sysRoot)
	case sup.Netns != 0 && netns != 0 && sup.Netns != netns:
		where = fmt.Sprintf("network namespace netns:[%d], this run is in netns:[%d]", sup.Netns, netns)
	default:
		return nil
	}
	return fmt.Errorf("%w: --force-new cannot carry the unresolved %s (%s), made in %s: roll it back there first (%s, with --netns or nsenter --net), or keep this change in another --state-dir",
		ErrOtherNamespace, sup.What(), strings.Join(sup.rollbackKeys(), ", "), where, RollbackCommand)
}

// ErrOtherNamespace: an unresolved record of another network namespace or
// tree cannot be superseded from here.
var ErrOtherNamespace = errors.New("the unresolved change is another namespace's")

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
