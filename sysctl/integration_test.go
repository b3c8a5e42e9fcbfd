package sysctl_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/sysctl"
	"github.com/backlogctl/backlogctl/sysctl/sysctltest"
)

// netnsKeys are written to the real /proc/sys, but only inside the test's
// own network namespace.
var netnsKeys = []string{"net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_synack_retries"}

func readReal(t *testing.T) map[string]string {
	return sysctltest.Values(t, sysctl.DefaultRoot, netnsKeys...)
}

// TestCommitUndoesOnReadOnlyKernelFile: the last of three writes hits a
// read-only bind mount after the first two were written; Commit restores them
// and the kernel's values are exactly as before.
func TestCommitUndoesOnReadOnlyKernelFile(t *testing.T) {
	if !nstest.IsolateMount(t) {
		return
	}
	nstest.SetSysctl(t, "net.core.somaxconn", 1000)
	nstest.SetSysctl(t, "net.ipv4.tcp_max_syn_backlog", 2000)
	nstest.SetSysctl(t, "net.ipv4.tcp_synack_retries", 4)
	before := readReal(t)

	fsys := sysctl.NewFS("")
	txn, err := fsys.Prepare([]sysctl.Setting{
		{Key: "net.core.somaxconn", Value: "8192"},
		{Key: "net.ipv4.tcp_max_syn_backlog", Value: "8192"},
		{Key: "net.ipv4.tcp_synack_retries", Value: "3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	nstest.BindReadOnly(t, "/proc/sys/net/ipv4/tcp_synack_retries")
	err = txn.Commit()
	var ae *sysctl.ApplyError
	if !errors.As(err, &ae) {
		t.Fatalf("Commit = %v, want *ApplyError", err)
	}
	if ae.Key != "net.ipv4.tcp_synack_retries" || !strings.Contains(err.Error(), "read-only file system") {
		t.Errorf("error %q does not name tcp_synack_retries and the read-only file system", err)
	}
	if diff := cmp.Diff([]string{"net.ipv4.tcp_max_syn_backlog", "net.core.somaxconn"}, ae.Restored); diff != "" {
		t.Errorf("restored (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, readReal(t)); diff != "" {
		t.Errorf("kernel values after the failed commit (-before +after):\n%s", diff)
	}
}

// TestPrepareSeesReadOnlyProcSys: a read-only /proc/sys (as in a container)
// is found by Prepare, before anything is written.
func TestPrepareSeesReadOnlyProcSys(t *testing.T) {
	if !nstest.IsolateMount(t) {
		return
	}
	nstest.BindReadOnly(t, "/proc/sys")
	_, err := sysctl.NewFS("").Prepare([]sysctl.Setting{{Key: "net.core.somaxconn", Value: "8192"}})
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("Prepare on a read-only /proc/sys = %v, want a read-only error", err)
	}
}
