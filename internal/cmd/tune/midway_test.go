package tune

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/sysctl"
	"github.com/backlogctl/backlogctl/sysctl/sysctltest"
)

// TestApplyFailingMidwayRestoresEverything: every check passes, then
// tcp_synack_retries (written last) becomes read-only, so the kernel refuses
// it after somaxconn and tcp_max_syn_backlog were written. tune restores both,
// exits 3 naming the key, records the apply as failed, and the kernel's
// values are exactly as before.
func TestApplyFailingMidwayRestoresEverything(t *testing.T) {
	if !nstest.IsolateMount(t) {
		return
	}
	keys, before, ios, stateDir := midwaySetup(t)
	o := &Options{
		IO: ios, Output: "table", StateDir: stateDir, Apply: true, Yes: true, AllowLower: true, Sets: midwaySets,
		Commit: func(txn *sysctl.Txn) error {
			nstest.BindReadOnly(t, "/proc/sys/net/ipv4/tcp_synack_retries")
			return txn.Commit()
		},
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	err := tuneRun(o)
	if cmdutil.ExitCode(err) != cmdutil.ExitEnv {
		t.Fatalf("tune = %v, want exit 3", err)
	}
	msg := err.Error()
	for _, want := range []string{"net.ipv4.tcp_synack_retries=3 failed", "read-only file system", "restored net.ipv4.tcp_max_syn_backlog, net.core.somaxconn", "nothing was left changed"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if diff := cmp.Diff(before, sysctltest.Values(t, sysctl.DefaultRoot, keys...)); diff != "" {
		t.Errorf("kernel values after the failed apply (-before +after):\n%s", diff)
	}
	state, err := sysctl.LoadState(stateDir)
	if err != nil || state.Status != sysctl.StatusFailed {
		t.Errorf("state = %+v, %v; want status failed", state, err)
	}
	o = &Options{IO: ios, Output: "table", StateDir: stateDir, Rollback: true, Yes: true}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := tuneRun(o); err == nil || !strings.Contains(err.Error(), "already undone") {
		t.Errorf("rollback after a failed apply = %v, want 'already undone'", err)
	}
}

// TestPersistFailingAfterApplyUndoesIt: the live writes succeed, then the
// persist directory turns read-only; tune undoes the live writes and exits 3.
func TestPersistFailingAfterApplyUndoesIt(t *testing.T) {
	if !nstest.IsolateMount(t) {
		return
	}
	nstest.SetSysctl(t, "net.core.somaxconn", 1000)
	confDir := t.TempDir()
	ios, _, _, _ := iostreams.Test()
	o := &Options{
		IO: ios, Output: "table", StateDir: t.TempDir(), Apply: true, Yes: true,
		Sets: []string{"somaxconn=8192"}, PersistFile: filepath.Join(confDir, "90-backlogctl.conf"),
		Search: sysctl.ConfSearch{Dirs: []string{confDir}},
		Commit: func(txn *sysctl.Txn) error {
			err := txn.Commit()
			nstest.BindReadOnly(t, confDir)
			return err
		},
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	err := tuneRun(o)
	if cmdutil.ExitCode(err) != cmdutil.ExitEnv || !strings.Contains(err.Error(), "the live changes were undone") {
		t.Fatalf("tune = %v; want exit 3 saying the live changes were undone", err)
	}
	if v := sysctltest.Values(t, sysctl.DefaultRoot, "net.core.somaxconn")["net.core.somaxconn"]; v != "1000" {
		t.Errorf("somaxconn = %s, want 1000 restored", v)
	}
}

// TestPersistDirCheckedBeforeApply: a missing persist directory is found
// before anything is written.
func TestPersistDirCheckedBeforeApply(t *testing.T) {
	sys := sysctltest.Tree(t, sysctltest.Base())
	ios, _, _, _ := iostreams.Test()
	missing := filepath.Join(t.TempDir(), "missing")
	o := &Options{
		IO: ios, Roots: hostfs.Roots{Sys: sys}, Output: "table", StateDir: t.TempDir(), Apply: true, Yes: true,
		Sets: []string{"netdev_max_backlog=2000"}, PersistFile: filepath.Join(missing, "90-backlogctl.conf"),
		Search: sysctl.ConfSearch{Dirs: []string{missing}},
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	err := tuneRun(o)
	if cmdutil.ExitCode(err) != cmdutil.ExitEnv || !strings.Contains(err.Error(), "cannot persist") {
		t.Errorf("tune = %v; want exit 3 'cannot persist'", err)
	}
	if v := sysctltest.Values(t, sys, "net.core.netdev_max_backlog")["net.core.netdev_max_backlog"]; v != "1000" {
		t.Errorf("netdev_max_backlog = %s, want 1000 untouched", v)
	}
}

// TestFailedRestoreStaysOwed: the third write fails (its file turns
// read-only after the checks), and so does restoring the first key (its file
// turns read-only just before the restore). The value not restored stays
// owed in the record: a new apply refuses to overwrite it, --rollback keeps
// trying it and says it still cannot, and once the file is writable again
// --rollback restores it.
func TestFailedRestoreStaysOwed(t *testing.T) {
	if !nstest.IsolateMount(t) {
		return
	}
	keys, before, ios, stateDir := midwaySetup(t)
	var releaseSomaxconn func()
	o := &Options{
		IO: ios, Output: "table", StateDir: stateDir, Apply: true, Yes: true, AllowLower: true, Sets: midwaySets,
		Commit: func(txn *sysctl.Txn) error {
			txn.BeforeWrite = func(i int, restore bool) {
				switch {
				case i == 2 && !restore:
					nstest.BindReadOnly(t, "/proc/sys/net/ipv4/tcp_synack_retries")
				case i == 0 && restore:
					releaseSomaxconn = nstest.BindReadOnly(t, "/proc/sys/net/core/somaxconn")
				}
			}
			return txn.Commit()
		},
	}
	run := func(o *Options) error {
		t.Helper()
		if err := o.Validate(); err != nil {
			t.Fatal(err)
		}
		return tuneRun(o)
	}
	err := run(o)
	if cmdutil.ExitCode(err) != cmdutil.ExitEnv {
		t.Fatalf("apply = %v, want exit 3", err)
	}
	for _, want := range []string{"could NOT restore net.core.somaxconn", "net.core.somaxconn stay owed", "backlogctl tune --rollback"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("apply error %q does not say %q", err, want)
		}
	}
	state, err := sysctl.LoadState(stateDir)
	if err != nil || state.Status != sysctl.StatusFailed || !cmp.Equal(state.Owed, []string{"net.core.somaxconn"}) {
		t.Fatalf("state = %+v, %v; want failed, owing net.core.somaxconn", state, err)
	}
	if got := sysctltest.Values(t, sysctl.DefaultRoot, "net.ipv4.tcp_max_syn_backlog")["net.ipv4.tcp_max_syn_backlog"]; got != "2000" {
		t.Errorf("tcp_max_syn_backlog = %s, want 2000 restored", got)
	}

	// A new apply must not overwrite the owed value's record.
	next := &Options{IO: ios, Output: "table", StateDir: stateDir, Apply: true, Yes: true, Sets: []string{"tcp_max_syn_backlog=4096"}}
	err = run(next)
	if cmdutil.ExitCode(err) != cmdutil.ExitEnv || !strings.Contains(err.Error(), "could not restore what it changed: net.core.somaxconn") ||
		!strings.Contains(err.Error(), "--force-new") {
		t.Fatalf("apply over an unresolved record = %v; want exit 3 naming it, --rollback and --force-new", err)
	}
	if got, _ := sysctl.LoadState(stateDir); !cmp.Equal(got.Owed, []string{"net.core.somaxconn"}) {
		t.Fatalf("refused apply changed the record: %+v", got)
	}

	// Rollback keeps trying and says what it still cannot restore.
	rollback := func() error {
		return run(&Options{IO: ios, Output: "table", StateDir: stateDir, Rollback: true, Yes: true})
	}
	err = rollback()
	if cmdutil.ExitCode(err) != cmdutil.ExitEnv || !strings.Contains(err.Error(), "could NOT restore net.core.somaxconn") ||
		!strings.Contains(err.Error(), "stay owed") {
		t.Fatalf("rollback while somaxconn is read-only = %v; want exit 3 saying it is still owed", err)
	}
	if got, _ := sysctl.LoadState(stateDir); got.Status != sysctl.StatusFailed || !cmp.Equal(got.Owed, []string{"net.core.somaxconn"}) {
		t.Fatalf("after a failed rollback, state = %+v; want still owing net.core.somaxconn", got)
	}

	releaseSomaxconn()
	if err := rollback(); err != nil {
		t.Fatalf("rollback once somaxconn is writable: %v", err)
	}
	if diff := cmp.Diff(before, sysctltest.Values(t, sysctl.DefaultRoot, keys...)); diff != "" {
		t.Errorf("kernel values after the rollback (-before +after):\n%s", diff)
	}
	if got, _ := sysctl.LoadState(stateDir); got.Status != sysctl.StatusRolledBack || len(got.Owed) != 0 {
		t.Errorf("after the rollback, state = %+v; want rolled-back, nothing owed", got)
	}
	if err := rollback(); err == nil || !strings.Contains(err.Error(), "already rolled back") {
		t.Errorf("second rollback = %v; want 'already rolled back'", err)
	}
	// Resolved: a new apply goes ahead.
	if err := run(next); err != nil {
		t.Errorf("apply after the rollback: %v", err)
	}
}

// midwaySets raise two keys and lower the third, written last.
var midwaySets = []string{"somaxconn=8192", "tcp_max_syn_backlog=8192", "tcp_synack_retries=3"}

// midwaySetup gives the three keys midwaySets changes known values in the
// test's namespace and returns them, their values, streams and a state dir.
func midwaySetup(t *testing.T) ([]string, map[string]string, *iostreams.IOStreams, string) {
	t.Helper()
	keys := []string{"net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_synack_retries"}
	nstest.SetSysctl(t, "net.core.somaxconn", 1000)
	nstest.SetSysctl(t, "net.ipv4.tcp_max_syn_backlog", 2000)
	nstest.SetSysctl(t, "net.ipv4.tcp_synack_retries", 4)
	ios, _, _, _ := iostreams.Test()
	return keys, sysctltest.Values(t, sysctl.DefaultRoot, keys...), ios, filepath.Join(t.TempDir(), "state")
}
