package sysctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/renameio/v2"
)

// DefaultStateDir holds the record of the last apply and the lock.
const DefaultStateDir = "/var/lib/backlogctl"

// StateFile is the name of the record of the last apply inside the state dir.
const StateFile = "last-apply.json"

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
	// StatusFailed: a write failed and the earlier ones were undone.
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
}

// PersistRecord remembers the persisted file's content before the apply.
type PersistRecord struct {
	File string `json:"file"`
	// Previous is the file's content before; nil when it did not exist.
	Previous *string `json:"previous"`
}

// SaveState writes the record atomically (write to a temporary file, fsync,
// rename): a crash leaves either the old record or the new one, never half.
func SaveState(dir string, s State) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	s.Version = 1
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, StateFile)
	if err := renameio.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing state file: %w", err)
	}
	return nil
}

// LoadState reads the record of the last apply; ErrNoState if there is none.
func LoadState(dir string) (State, error) {
	path := filepath.Join(dir, StateFile)
	b, err := os.ReadFile(path)
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
