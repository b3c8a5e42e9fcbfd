package sysctl

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Setting is one value to write to one key.
type Setting struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Step is one write of a transaction: the key, the value it had when the
// transaction was prepared, and the value to give it.
type Step struct {
	Key      string `json:"key"`
	Previous string `json:"previous"`
	Value    string `json:"value"`
}

// Txn is a prepared all-or-nothing set of writes: every key was readable and
// opened for writing before the first write, and Commit puts back every value
// it changed if any write or read-back fails.
type Txn struct {
	fs    FS
	Steps []Step
	// Interrupted, when set, is asked before each write; a non-nil error
	// stops the transaction there: what was written is restored and the
	// *ApplyError wraps that error (a signal deferred during the writes).
	Interrupted func() error
	// BeforeWrite, when set, is called before each write of Steps[i]
	// (restore says whether it puts the previous value back). Tests use it
	// to inject a fault at that exact moment.
	BeforeWrite func(i int, restore bool)
}

// Prepare reads every key's current value and checks that each can be opened
// for writing (permission, a read-only /proc/sys in a container), without
// writing anything. Settings for the same key must not repeat.
func (fs FS) Prepare(settings []Setting) (*Txn, error) {
	t := &Txn{fs: fs}
	seen := map[string]bool{}
	for _, s := range settings {
		if seen[s.Key] {
			return nil, fmt.Errorf("%w %q: set twice", ErrBadKey, s.Key)
		}
		seen[s.Key] = true
		prev, err := fs.ReadString(s.Key)
		if errors.Is(err, iofs.ErrNotExist) {
			return nil, fmt.Errorf("%s is not visible here (absent in this kernel or network namespace): %w", s.Key, iofs.ErrNotExist)
		}
		if err != nil {
			return nil, err
		}
		if err := fs.CheckWritable(s.Key); err != nil {
			return nil, err
		}
		t.Steps = append(t.Steps, Step{Key: s.Key, Previous: prev, Value: s.Value})
	}
	return t, nil
}

// CheckWritable opens a key for writing and closes it again: open(2) is where
// the kernel refuses a write for permission (proc_sys_permission) or a
// read-only mount, so nothing needs to be written to find out.
func (fs FS) CheckWritable(name string) error {
	p, err := fs.path(name)
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err == nil {
		return f.Close()
	}
	var pe *iofs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the key names the file
	}
	switch {
	case errors.Is(err, unix.EROFS):
		return fmt.Errorf("cannot write %s: %w (%s is mounted read-only here, as in a container)", name, err, fs.root)
	case errors.Is(err, iofs.ErrPermission):
		return fmt.Errorf("cannot write %s: %w (writing tunables needs root)", name, err)
	}
	return fmt.Errorf("cannot write %s: %w", name, err)
}

// ApplyError says which write failed and what Commit did about the writes
// before it.
type ApplyError struct {
	// Key and Value are the write that failed.
	Key   string
	Value string
	Err   error
	// Restored lists the keys put back to their previous values.
	Restored []string
	// NotRestored maps keys that could not be put back to why; the host is
	// left half-changed only when this is not empty.
	NotRestored map[string]error
}

// Error names the failed write, what was restored and what could not be.
func (e *ApplyError) Error() string {
	var b strings.Builder
	if e.Interrupted() {
		fmt.Fprintf(&b, "%v before setting %s=%s", e.Err, e.Key, e.Value)
	} else {
		fmt.Fprintf(&b, "setting %s=%s failed: %v", e.Key, e.Value, e.Err)
	}
	if len(e.Restored) > 0 {
		fmt.Fprintf(&b, "; restored %s to the previous value", strings.Join(e.Restored, ", "))
	}
	if len(e.NotRestored) > 0 {
		var parts []string
		for _, k := range OwedAfter(e) {
			parts = append(parts, fmt.Sprintf("%s (%v)", k, e.NotRestored[k]))
		}
		fmt.Fprintf(&b, "; could NOT restore %s", strings.Join(parts, ", "))
	} else {
		b.WriteString("; nothing was left changed")
	}
	return b.String()
}

// Interrupted reports whether the transaction was stopped by its
// Interrupted check rather than by a failed write.
func (e *ApplyError) Interrupted() bool { return errors.Is(e.Err, ErrInterrupted) }

// ErrInterrupted is wrapped by the errors a Txn.Interrupted check returns.
var ErrInterrupted = errors.New("interrupted")

// Unwrap returns the write's own error (errors.Is(err, fs.ErrPermission) works).
func (e *ApplyError) Unwrap() error { return e.Err }

// errRejected is a write the kernel's handler refused (EINVAL from
// proc_dointvec_minmax and friends: out of its range or malformed).
type errRejected struct{ err error }

func (e errRejected) Error() string { return "the kernel rejected the value (EINVAL)" }
func (e errRejected) Unwrap() error { return e.err }

// ErrReadBack reports a write the kernel accepted but did not keep.
var ErrReadBack = errors.New("read back a different value")

// Commit writes each step in order and reads it back. On the first failure it
// restores, newest first, every key it changed (including the failing one if
// the kernel kept part of it) and returns an *ApplyError.
func (t *Txn) Commit() error {
	for i, s := range t.Steps {
		if t.Interrupted != nil {
			if err := t.Interrupted(); err != nil {
				if i == 0 {
					return &ApplyError{Key: s.Key, Value: s.Value, Err: err}
				}
				ae := t.undo(i-1, true, err)
				ae.Key, ae.Value = s.Key, s.Value // the write not made
				return ae
			}
		}
		if t.BeforeWrite != nil {
			t.BeforeWrite(i, false)
		}
		if err := t.fs.Write(s.Key, s.Value); err != nil {
			if errors.Is(err, unix.EINVAL) {
				err = errRejected{err}
			}
			return t.undo(i, false, err)
		}
		if err := t.verify(s.Key, s.Value); err != nil {
			return t.undo(i, true, err)
		}
	}
	return nil
}

// verify reads key back and compares it with what was written.
func (t *Txn) verify(key, want string) error {
	got, err := t.fs.ReadString(key)
	if err != nil {
		return err
	}
	if !SameValue(got, want) {
		return fmt.Errorf("%w: wrote %q, read %q", ErrReadBack, want, got)
	}
	return nil
}

// undo restores steps failed..0 after step failed went wrong with cause;
// written says whether the kernel accepted that step's write.
func (t *Txn) undo(failed int, written bool, cause error) *ApplyError {
	s := t.Steps[failed]
	ae := &ApplyError{Key: s.Key, Value: s.Value, Err: cause}
	for i := failed; i >= 0; i-- {
		s := t.Steps[i]
		cur, err := t.fs.ReadString(s.Key)
		if err == nil && SameValue(cur, s.Previous) {
			continue // unchanged: the failed write, or a write of the same value
		}
		if err != nil && i == failed && !written {
			continue // unreadable, and the kernel refused the write: nothing to put back
		}
		if t.BeforeWrite != nil {
			t.BeforeWrite(i, true)
		}
		err = t.fs.Write(s.Key, s.Previous)
		if err == nil {
			err = t.verify(s.Key, s.Previous)
		}
		if err != nil {
			if ae.NotRestored == nil {
				ae.NotRestored = map[string]error{}
			}
			ae.NotRestored[s.Key] = err
			continue
		}
		ae.Restored = append(ae.Restored, s.Key)
	}
	return ae
}

// SameValue compares two values as the kernel prints them: whitespace
// between fields does not matter ("32768\t60999" equals "32768 60999"), and
// numbers compare as numbers (a written "0100" reads back as "100").
func SameValue(a, b string) bool {
	fa, fb := strings.Fields(a), strings.Fields(b)
	if len(fa) != len(fb) {
		return false
	}
	for i := range fa {
		if fa[i] == fb[i] {
			continue
		}
		na, errA := strconv.ParseInt(fa[i], 10, 64)
		nb, errB := strconv.ParseInt(fb[i], 10, 64)
		if errA != nil || errB != nil || na != nb {
			return false
		}
	}
	return true
}
