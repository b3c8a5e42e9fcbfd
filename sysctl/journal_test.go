package sysctl

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckResolved(t *testing.T) {
	step := Step{Key: "net.core.somaxconn", Previous: "4096", Value: "8192"}
	tests := []struct {
		name       string
		state      *State
		unresolved bool
	}{
		{name: "no record"},
		{name: "applied", state: &State{Status: StatusApplied, Steps: []Step{step}}},
		{name: "rolled back", state: &State{Status: StatusRolledBack, Steps: []Step{step}}},
		{name: "failed, all restored", state: &State{Status: StatusFailed, Steps: []Step{step}}},
		{name: "interrupted", state: &State{Status: StatusApplying, Steps: []Step{step}}, unresolved: true},
		{name: "failed, owing", state: &State{Status: StatusFailed, Steps: []Step{step}, Owed: []string{step.Key}}, unresolved: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.state != nil {
				if err := SaveState(dir, *tt.state); err != nil {
					t.Fatal(err)
				}
			}
			prev, err := CheckResolved(dir, false)
			var ue *UnresolvedError
			if tt.unresolved != errors.As(err, &ue) || prev != nil {
				t.Fatalf("CheckResolved = %v, %v; want unresolved %v", prev, err, tt.unresolved)
			}
			if tt.unresolved && (!strings.Contains(err.Error(), step.Key) || !strings.Contains(err.Error(), RollbackCommand)) {
				t.Errorf("error %q does not name the owed key and %s", err, RollbackCommand)
			}
			prev, err = CheckResolved(dir, true)
			if err != nil || (prev != nil) != tt.unresolved {
				t.Errorf("with --force-new: %v, %v; want the old record kept only when unresolved", prev, err)
			}
		})
	}
	// A damaged record cannot say what is owed: refused unless --force-new.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, StateFile), []byte("{half"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckResolved(dir, false); err == nil || !strings.Contains(err.Error(), "--force-new") {
		t.Errorf("damaged record: %v; want refused, mentioning --force-new", err)
	}
	if prev, err := CheckResolved(dir, true); err != nil || prev != nil {
		t.Errorf("damaged record with --force-new: %v, %v; want to go ahead", prev, err)
	}
}

// TestTxnInterruptedRestores: an Interrupted check that fires before the
// third write stops the transaction there and restores the first two.
func TestTxnInterruptedRestores(t *testing.T) {
	fsys := NewFS(baseTree(t))
	txn, err := fsys.Prepare([]Setting{{"net.core.netdev_max_backlog", "16384"}, {"fs.nr_open", "2097152"}, {"net.core.somaxconn", "8192"}})
	if err != nil {
		t.Fatal(err)
	}
	writes := 0
	txn.BeforeWrite = func(int, bool) { writes++ }
	stop := errors.Join(ErrInterrupted, errors.New("interrupted by SIGTERM"))
	txn.Interrupted = func() error {
		if writes == 2 {
			return stop
		}
		return nil
	}
	err = txn.Commit()
	var ae *ApplyError
	if !errors.As(err, &ae) || !ae.Interrupted() || ae.Key != "net.core.somaxconn" || len(ae.NotRestored) != 0 {
		t.Fatalf("Commit = %v; want an interruption before net.core.somaxconn with everything restored", err)
	}
	want := map[string]string{"net.core.netdev_max_backlog": "1000", "fs.nr_open": "1048576", "net.core.somaxconn": "4096"}
	got := readAll(t, fsys, "net.core.netdev_max_backlog", "fs.nr_open", "net.core.somaxconn")
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %s after the interruption, want %s", k, got[k], v)
		}
	}
}
