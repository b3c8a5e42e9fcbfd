package tune

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

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
	keys := []string{"net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_synack_retries"}
	nstest.SetSysctl(t, "net.core.somaxconn", 1000)
	nstest.SetSysctl(t, "net.ipv4.tcp_max_syn_backlog", 2000)
	nstest.SetSysctl(t, "net.ipv4.tcp_synack_retries", 4)
	before := sysctltest.Values(t, sysctl.DefaultRoot, keys...)

	ios, _, _, _ := iostreams.Test()
	stateDir := filepath.Join(t.TempDir(), "state")
	o := &Options{
		IO: ios, Output: "table", StateDir: stateDir, Apply: true, Yes: true, AllowLower: true,
		Sets: []string{"somaxconn=8192", "tcp_max_syn_backlog=8192", "tcp_synack_retries=3"},
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
