package sysctl

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/backlogctl/backlogctl/internal/userfile"
)

// DefaultPersistFile is where tune --persist writes; 90- sorts before the
// distribution's 99-sysctl.conf, which is the administrator's own file.
const DefaultPersistFile = "/etc/sysctl.d/90-backlogctl.conf"

// persistHeader starts every file backlogctl writes; a file without it is
// someone else's and is never overwritten.
const persistHeader = "# Written by backlogctl (tune --persist)."

// MaxConfSize caps a sysctl.d file read back: backlogctl's own are a few
// hundred bytes.
const MaxConfSize = 1 << 20

// ErrNotOurs reports a persist target that backlogctl did not write.
var ErrNotOurs = errors.New("was not written by backlogctl")

// PersistEntry is one persisted setting and why it was made.
type PersistEntry struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Reason string `json:"reason"`
}

// ReadPersist returns the entries of a file backlogctl wrote and its raw
// content; content is nil when the file does not exist. A file that exists
// without backlogctl's header is refused with ErrNotOurs.
func ReadPersist(file string) ([]PersistEntry, []byte, error) {
	b, err := userfile.Read(file, MaxConfSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", file, err)
	}
	if !bytes.HasPrefix(b, []byte(persistHeader)) {
		return nil, b, fmt.Errorf("%s exists and %w; choose another file with --persist=FILE", file, ErrNotOurs)
	}
	as, err := ParseConf(bytes.NewReader(b))
	if err != nil {
		return nil, b, fmt.Errorf("reading %s: %w", file, err)
	}
	out := make([]PersistEntry, 0, len(as))
	for _, a := range as {
		out = append(out, PersistEntry{Key: a.Key, Value: a.Value, Reason: a.Comment})
	}
	return out, b, nil
}

// MergePersist adds entries to what the file already held: a new entry
// replaces an old one for the same key. The result is sorted by key.
func MergePersist(old, add []PersistEntry) []PersistEntry {
	byKey := map[string]PersistEntry{}
	for _, e := range old {
		byKey[e.Key] = e
	}
	for _, e := range add {
		byKey[e.Key] = e
	}
	out := make([]PersistEntry, 0, len(byKey))
	for _, e := range byKey {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// RenderPersist formats entries as a sysctl.d file: a header saying what
// wrote it, then each setting under a comment saying why.
func RenderPersist(entries []PersistEntry) []byte {
	var b bytes.Buffer
	b.WriteString(persistHeader + "\n")
	b.WriteString("# Read at boot by systemd-sysctl and `sysctl --system`. Change it with\n")
	b.WriteString("# `backlogctl tune --persist`; `backlogctl tune --rollback` undoes the last change.\n")
	for _, e := range entries {
		reason := strings.Join(strings.Fields(e.Reason), " ")
		if reason == "" {
			reason = "set by backlogctl"
		}
		fmt.Fprintf(&b, "\n# %s\n%s = %s\n", reason, e.Key, e.Value)
	}
	return b.Bytes()
}

// WriteFileAtomic replaces file with data (temporary file beside it, fsync,
// rename; userfile.WriteAtomic), so boot never reads a half-written file. The
// mode is 0644 whatever the umask: systemd-sysctl and other readers need to
// read it.
func WriteFileAtomic(file string, data []byte) error {
	if err := userfile.WriteAtomic(file, data, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return nil
}

// Digest is the SHA-256 (hex) a PersistRecord keeps of the content written.
func Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// RestorePersist puts a persisted file back as it was before the change
// recorded in p (removing it if it did not exist), but only while it holds
// exactly what backlogctl wrote: a file changed (or removed) since is an
// administrator's, left as it is, and left says so in a line. A file
// already as it was is left alone too. restored reports a write or removal.
func RestorePersist(p PersistRecord) (restored bool, left string, err error) {
	// Whatever is done with the file, an interrupted write's leftovers go.
	if _, err := userfile.CleanTemps(p.File); err != nil {
		return false, "", err
	}
	cur, err := userfile.Read(p.File, MaxConfSize)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, "", fmt.Errorf("reading %s: %w", p.File, err)
	}
	if (!exists && p.Previous == nil) || (exists && p.Previous != nil && string(cur) == *p.Previous) {
		return false, "", nil
	}
	ours := false
	switch {
	case !exists:
	case p.Written != "":
		ours = Digest(cur) == p.Written
	default: // a record from before the digest was kept
		ours = bytes.HasPrefix(cur, []byte(persistHeader))
	}
	if !ours {
		what := "was changed after backlogctl wrote it"
		if !exists {
			what = "was removed after backlogctl wrote it"
		}
		return false, fmt.Sprintf("%s %s: left as it is, so what it says is what the host gets at boot (the live values were restored)", p.File, what), nil
	}
	if p.Previous != nil {
		return true, "", WriteFileAtomic(p.File, []byte(*p.Previous))
	}
	if err := os.Remove(p.File); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, "", fmt.Errorf("removing %s: %w", p.File, err)
	}
	return true, "", nil
}
