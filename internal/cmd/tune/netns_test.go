package tune_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/internal/cmd/tune"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/netns/netnstest"
	"github.com/backlogctl/backlogctl/sysctl"
	"github.com/backlogctl/backlogctl/sysctl/sysctltest"
)

// Only per-netns keys are written to the real /proc/sys, and only inside the
// test's own network namespace.
var realKeys = []string{"net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_synack_retries"}

func realValues(t *testing.T) map[string]string {
	return sysctltest.Values(t, sysctl.DefaultRoot, realKeys...)
}

// runReal runs backlogctl tune against the real /proc/sys of the test's
// namespace, with a temp state dir and fixture sysctl.d dirs.
func runReal(t *testing.T, state, confDir string, args ...string) nstest.Result {
	t.Helper()
	args = append(append([]string{"tune"}, args...), "--state-dir", state)
	return nstest.RunCLI(t, nstest.CLI{Args: args, Env: []string{
		tune.EnvConfDirs + "=" + confDir, tune.EnvConf + "=",
	}})
}

// settle gives the namespace values that differ from every default, so a
// restore to defaults cannot pass by accident.
func settle(t *testing.T) map[string]string {
	nstest.SetSysctl(t, "net.core.somaxconn", 1000)
	nstest.SetSysctl(t, "net.ipv4.tcp_max_syn_backlog", 2000)
	nstest.SetSysctl(t, "net.ipv4.tcp_synack_retries", 4)
	return realValues(t)
}

var threeSets = []string{"--set", "somaxconn=8192", "--set", "tcp_max_syn_backlog=8192", "--set", "tcp_synack_retries=3", "--allow-lower"}

func TestTuneApplyRollbackRealKernel(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	before := settle(t)
	state, conf := t.TempDir(), t.TempDir()
	res := runReal(t, state, conf, append(threeSets, "--apply", "--yes")...)
	if res.Code != 0 {
		t.Fatalf("apply: exit %d: %s", res.Code, res.Stderr)
	}
	want := map[string]string{"net.core.somaxconn": "8192", "net.ipv4.tcp_max_syn_backlog": "8192", "net.ipv4.tcp_synack_retries": "3"}
	if diff := cmp.Diff(want, realValues(t)); diff != "" {
		t.Errorf("after apply (-want +got):\n%s", diff)
	}
	ino, err := sysctl.NetnsInode("/proc")
	if err != nil {
		t.Fatal(err)
	}
	if scope := fmt.Sprintf("netns:[%d]", ino); !strings.Contains(res.Stdout, scope) {
		t.Errorf("diff does not show this namespace's scope %s:\n%s", scope, res.Stdout)
	}
	res = runReal(t, state, conf, "--rollback", "--yes")
	if res.Code != 0 {
		t.Fatalf("rollback: exit %d: %s", res.Code, res.Stderr)
	}
	if diff := cmp.Diff(before, realValues(t)); diff != "" {
		t.Errorf("rollback did not restore the exact prior values (-before +after):\n%s", diff)
	}
}

// TestTuneReadOnlyKeyChangesNothing: tcp_synack_retries, written last, is
// read-only; tune finds it before the first write, exits 3 naming it, and
// records nothing.
func TestTuneReadOnlyKeyChangesNothing(t *testing.T) {
	if !nstest.IsolateMount(t) {
		return
	}
	before := settle(t)
	nstest.BindReadOnly(t, "/proc/sys/net/ipv4/tcp_synack_retries")
	state := t.TempDir()
	res := runReal(t, state, t.TempDir(), append(threeSets, "--apply", "--yes")...)
	if res.Code != 3 || !strings.Contains(res.Stderr, "net.ipv4.tcp_synack_retries") || !strings.Contains(res.Stderr, "read-only") {
		t.Errorf("exit %d, stderr %q; want 3 naming tcp_synack_retries as read-only", res.Code, res.Stderr)
	}
	if diff := cmp.Diff(before, realValues(t)); diff != "" {
		t.Errorf("values changed (-before +after):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(state, sysctl.StateFile)); !os.IsNotExist(err) {
		t.Errorf("a refused apply recorded state: %v", err)
	}
}

// TestTuneReadOnlyProcSys: /proc/sys mounted read-only, as in a container.
func TestTuneReadOnlyProcSys(t *testing.T) {
	if !nstest.IsolateMount(t) {
		return
	}
	before := settle(t)
	nstest.BindReadOnly(t, "/proc/sys")
	res := runReal(t, t.TempDir(), t.TempDir(), "--set", "somaxconn=8192", "--apply", "--yes")
	if res.Code != 3 || !strings.Contains(res.Stderr, "read-only") || strings.Count(strings.TrimSpace(res.Stderr), "\n") != 0 {
		t.Errorf("exit %d, stderr %q; want 3 and one line saying read-only", res.Code, res.Stderr)
	}
	if diff := cmp.Diff(before, realValues(t)); diff != "" {
		t.Errorf("values changed (-before +after):\n%s", diff)
	}
}

// TestTunePersistLoadsInFreshNamespace: the persisted file, loaded with
// sysctl -p in a brand-new namespace (kernel defaults), yields the plan.
func TestTunePersistLoadsInFreshNamespace(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	settle(t)
	confDir := t.TempDir()
	file := filepath.Join(confDir, "90-backlogctl.conf")
	res := runReal(t, t.TempDir(), confDir, append(threeSets, "--apply", "--yes", "--persist="+file)...)
	if res.Code != 0 {
		t.Fatalf("apply: exit %d: %s", res.Code, res.Stderr)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	as, err := sysctl.ParseConf(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as { // sysctl -p below must never set a global key
		if k, ok := sysctl.Lookup(a.Key); !ok || k.Scope != sysctl.ScopeNetns {
			t.Fatalf("persisted file sets %s, which is not per-netns; refusing to load it", a.Key)
		}
	}
	out := nstest.InFreshNetns(t, "sh", "-c", `sysctl -q -p "$0" && sysctl -n net.core.somaxconn net.ipv4.tcp_max_syn_backlog net.ipv4.tcp_synack_retries`, file)
	if diff := cmp.Diff("8192\n8192\n3\n", out); diff != "" {
		t.Errorf("values loaded from %s in a fresh namespace (-want +got):\n%s", file, diff)
	}
}

// tune --netns plans and applies inside that namespace only (its somaxconn
// changes; this one's does not) and --rollback --netns restores it there;
// --all-netns is refused with exit 2 before anything is read.
func TestTuneInNamedNamespace(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	other := netnstest.Hold(t)
	nstest.PrepareNetns(t, other, 1000, 0)
	nstest.SetSysctl(t, "net.core.somaxconn", 1500)
	state, conf := t.TempDir(), t.TempDir()
	readOther := func() string { t.Helper(); return nstest.SysctlIn(t, other, "net.core.somaxconn") }
	res := runReal(t, state, conf, "--netns", other, "--set", "somaxconn=4096", "--apply", "--yes")
	if res.Code != 0 || readOther() != "4096" {
		t.Fatalf("tune --netns --apply: exit %d, somaxconn there %s; want 0 and 4096\n%s%s", res.Code, readOther(), res.Stdout, res.Stderr)
	}
	if v, _ := sysctl.NewFS("").ReadString("net.core.somaxconn"); v != "1500" {
		t.Errorf("somaxconn here = %s after tune --netns, want 1500 untouched", v)
	}
	if res := runReal(t, state, conf, "--netns", other, "--rollback", "--yes"); res.Code != 0 || readOther() != "1000" {
		t.Errorf("tune --netns --rollback: exit %d, somaxconn there %s; want 0 and 1000\n%s", res.Code, readOther(), res.Stderr)
	}
	res = runReal(t, state, conf, "--all-netns", "--set", "somaxconn=1", "--apply", "--yes")
	if res.Code != 2 || !strings.Contains(res.Stderr, "--all-netns is refused") {
		t.Errorf("tune --all-netns: exit %d, %q; want 2 with the refusal", res.Code, res.Stderr)
	}
	if readOther() != "1000" {
		t.Errorf("somaxconn there = %s after a refused --all-netns, want 1000", readOther())
	}
}
