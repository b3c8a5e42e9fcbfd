package sysctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/backlogctl/backlogctl/internal/userfile"
)

// DefaultStateDir holds the record of the last apply and the lock.
const DefaultStateDir = "/var/lib/backlogctl"

// StateFile is the name of the record of the last apply inside the state dir.
const StateFile = "last-apply.json"

// MaxStateSize caps the state file read back: a record is a few KiB.
const MaxStateSize = 1 << 20

// ErrNoState reports that no apply was ever recorded in the state dir.
var ErrNoState = errors.New("no recorded apply")

// Status is where the recorded apply got to.
type Status string

const (
	// StatusApplying: recorded before the first write; if it is still the
	// status, the run died midway and rollback puts the host back.
	StatusApplying Status = "applying"
	// StatusApplied: every write succeeded and was read back.
	StatusApplied Status = "applied"
	// StatusFailed: a write failed (or a signal stopped the run, or a
	// rollback could not restore everything) and the values written were
	// restored, except the keys listed in Owed.
	StatusFailed Status = "failed"
	// StatusRolledBack: `tune --rollback` restored the previous values.
	StatusRolledBack Status = "rolled-back"
)

// State records what an apply changed, so it can be undone.
type State struct {
	Version int       `json:"version"`
	Time    time.Time `json:"time"`
	Status  Status    `json:"status"`
	// SysRoot is the tree written (normally /proc/sys).
	SysRoot string `json:"sysctl_root"`
	// Netns is the inode of the network namespace per-netns keys were
	// written in; 0 when unknown.
	Netns uint64 `json:"netns,omitempty"`
	Steps []Step `json:"changes"`
	// Persist records the sysctl.d file written, if any.
	Persist *PersistRecord `json:"persist,omitempty"`
	// RolledBack is when the values were restored.
	RolledBack *time.Time `json:"rolled_back,omitempty"`
	// Command is what made the change: "tune --apply" or "sysctl set".
	Command string `json:"command,omitempty"`
	// Owed lists, for a failed record, the keys whose previous value could
	// not be restored: the host is still half-changed until a rollback
	// restores them.
	Owed []string `json:"owed,omitempty"`
	// Superseded is the unresolved record a --force-new run replaced, kept
	// so its owed values are not forgotten.
	Superseded *State `json:"superseded,omitempty"`
}

// PersistRecord remembers the persisted file's content before the apply.
type PersistRecord struct {
	File string `json:"file"`
	// Previous is the file's content before; nil when it did not exist.
	Previous *string `json:"previous"`
	// Written is the SHA-256 (hex) of the content the apply wrote: a
	// rollback puts Previous back only while the file still holds exactly
	// that, so an administrator's later edit is never thrown away. Empty in
	// records made before it was kept.
	Written string `json:"written_sha256,omitempty"`
}

// SaveState writes the record atomically (write to a temporary file, fsync,
// rename): a crash leaves either the old record or the new one, never half.
func SaveState(dir string, s State) error {
	if err := MkdirMode(dir, 0o755); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	s.Version = 1
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, StateFile)
	if err := userfile.WriteAtomic(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing state file: %w", err)
	}
	return nil
}

// LoadState reads the record of the last apply; ErrNoState if there is none.
// A state directory or record another user could have planted or may write
// is refused (CheckStateDir, ErrUntrusted).
func LoadState(dir string) (State, error) {
	if err := CheckStateDir(dir); err != nil {
		return State{}, err
	}
	path := filepath.Join(dir, StateFile)
	b, err := userfile.Read(path, MaxStateSize)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, fmt.Errorf("%w in %s", ErrNoState, dir)
	}
	if err != nil {
		return State{}, fmt.Errorf("reading state file: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("reading state file %s: %w", path, err)
	}
	return s, nil
}
