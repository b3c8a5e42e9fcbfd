package sysctl

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// ErrBadRecord reports a record whose fields are not what backlogctl writes:
// a rollback must not act on any of it.
var ErrBadRecord = errors.New("invalid record")

// RecordRules are what a record must satisfy before a rollback acts on it.
type RecordRules struct {
	// SysRoot is the tree the rollback writes (the record must name it).
	SysRoot string
	// PersistDirs are the sysctl.d directories a persisted file may be in.
	PersistDirs []string
	// AllowUnknown lets keys outside the registry through, as sysctl set
	// --force wrote them (tune --rollback --force).
	AllowUnknown bool
}

// maxSuperseded bounds the chain of records --force-new kept.
const maxSuperseded = 32

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Check validates every field a rollback acts on, before it acts: keys that
// are sysctl names inside the tree (and in the registry unless
// AllowUnknown), values each key accepts, owed keys among the record's own,
// a persisted file inside a sysctl.d directory whose earlier content is a
// file backlogctl wrote, and the same for every record it superseded. A key
// outside the registry without AllowUnknown wraps ErrUnknownKey; anything
// else ErrBadRecord.
func (s State) Check(r RecordRules) error {
	return s.check(r, 0)
}

func (s State) check(r RecordRules, depth int) error {
	if depth > maxSuperseded {
		return fmt.Errorf("%w: more than %d superseded records", ErrBadRecord, maxSuperseded)
	}
	if s.Version != 1 {
		return fmt.Errorf("%w: version %d (want 1)", ErrBadRecord, s.Version)
	}
	switch s.Status {
	case StatusApplying, StatusApplied, StatusFailed, StatusRolledBack:
	default:
		return fmt.Errorf("%w: unknown status %q", ErrBadRecord, excerpt(string(s.Status)))
	}
	switch s.Command {
	case "", "tune --apply", "sysctl set":
	default:
		return fmt.Errorf("%w: unknown command %q", ErrBadRecord, excerpt(s.Command))
	}
	if r.SysRoot != "" && s.SysRoot != r.SysRoot {
		return fmt.Errorf("%w: it wrote under %q, not %s", ErrBadRecord, excerpt(s.SysRoot), r.SysRoot)
	}
	keys := map[string]bool{}
	for _, st := range s.Steps {
		if err := checkStep(st, r.AllowUnknown); err != nil {
			return err
		}
		if keys[st.Key] {
			return fmt.Errorf("%w: %s is changed twice", ErrBadRecord, st.Key)
		}
		keys[st.Key] = true
	}
	for _, k := range s.Owed {
		if !keys[k] {
			return fmt.Errorf("%w: owed key %q is not one it changed", ErrBadRecord, excerpt(k))
		}
	}
	if s.Persist != nil {
		if err := s.Persist.check(r); err != nil {
			return err
		}
	}
	if s.Superseded != nil {
		if err := s.Superseded.check(r, depth+1); err != nil {
			return fmt.Errorf("in the superseded record: %w", err)
		}
	}
	return nil
}

// checkStep: the key is a canonical sysctl name (a registry key, or any with
// allowUnknown) and both values are what a write of it accepts.
func checkStep(st Step, allowUnknown bool) error {
	k, err := Resolve(st.Key, true)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	if k.Name != st.Key {
		return fmt.Errorf("%w: key %q is not written as backlogctl writes it (%s)", ErrBadRecord, excerpt(st.Key), k.Name)
	}
	if _, known := Lookup(st.Key); !known && !allowUnknown {
		return fmt.Errorf("%w: %s was recorded by sysctl set --force; restoring it needs --force too", ErrUnknownKey, st.Key)
	}
	for _, v := range []string{st.Previous, st.Value} {
		if _, err := ParseValue(k, v); err != nil {
			return fmt.Errorf("%w: %v", ErrBadRecord, err)
		}
	}
	return nil
}

// check: the file is a .conf file directly inside one of the sysctl.d
// directories, its earlier content is a file backlogctl wrote (its header,
// and only settings a write accepts), and the digest of what was written
// has the form a digest has.
func (p PersistRecord) check(r RecordRules) error {
	f := p.File
	if !filepath.IsAbs(f) || filepath.Clean(f) != f || !strings.HasSuffix(f, ".conf") || strings.HasPrefix(filepath.Base(f), ".") {
		return fmt.Errorf("%w: persisted file %q is not an absolute path to a .conf file", ErrBadRecord, excerpt(f))
	}
	if !slices.ContainsFunc(r.PersistDirs, func(d string) bool { return sameDir(filepath.Dir(f), d) }) {
		return fmt.Errorf("%w: persisted file %s is outside the sysctl.d directories (%s)", ErrBadRecord, f, strings.Join(r.PersistDirs, ", "))
	}
	if p.Written != "" && !sha256Hex.MatchString(p.Written) {
		return fmt.Errorf("%w: the digest of %s is not a SHA-256", ErrBadRecord, f)
	}
	if p.Previous == nil {
		return nil
	}
	prev := []byte(*p.Previous)
	if len(prev) > MaxConfSize {
		return fmt.Errorf("%w: the earlier content of %s is over %d bytes", ErrBadRecord, f, MaxConfSize)
	}
	if !bytes.HasPrefix(prev, []byte(persistHeader)) {
		return fmt.Errorf("%w: the earlier content of %s is not a file backlogctl wrote", ErrBadRecord, f)
	}
	as, err := ParseConf(bytes.NewReader(prev))
	if err != nil {
		return fmt.Errorf("%w: the earlier content of %s: %v", ErrBadRecord, f, err)
	}
	for _, a := range as {
		if err := checkStep(Step{Key: a.Key, Previous: a.Value, Value: a.Value}, r.AllowUnknown); err != nil {
			return fmt.Errorf("the earlier content of %s, line %d: %w", f, a.Line, err)
		}
	}
	return nil
}

// excerpt shortens text from a file for a message: at most 40 bytes of it,
// so an error never prints a file's content.
func excerpt(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
