package tune

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/sysctl"
	"github.com/backlogctl/backlogctl/sysctl/sysctltest"
)

// TestConfirmOnTerminal: on a terminal tune asks, and only "y" or "yes" applies.
func TestConfirmOnTerminal(t *testing.T) {
	tests := []struct {
		answer  string
		applied bool
	}{
		{"y\n", true}, {"YES\n", true}, {"n\n", false}, {"\n", false}, {"", false}, {"sure\n", false},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSpace(tt.answer), func(t *testing.T) {
			sys := sysctltest.Tree(t, sysctltest.Base())
			ios, in, _, errOut := iostreams.Test()
			ios.SetStdinTTY(true)
			in.WriteString(tt.answer)
			o := &Options{
				IO: ios, Roots: hostfs.Roots{Sys: sys, Proc: sysctltest.Proc(t, "1")},
				Sets: []string{"netdev_max_backlog=2000"}, Apply: true, Output: "table",
				StateDir: filepath.Join(t.TempDir(), "state"),
			}
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			err := tuneRun(o)
			if !strings.Contains(errOut.String(), "Apply 1 change(s)? [y/N]") {
				t.Errorf("no question on stderr: %q", errOut.String())
			}
			got, _ := sysctl.NewFS(sys).ReadString("net.core.netdev_max_backlog")
			if tt.applied {
				if err != nil || got != "2000" {
					t.Errorf("answer %q: err %v, value %s; want applied", tt.answer, err, got)
				}
				return
			}
			if cmdutil.ExitCode(err) != cmdutil.ExitUsage || got != "1000" {
				t.Errorf("answer %q: err %v, value %s; want exit 2 and nothing changed", tt.answer, err, got)
			}
		})
	}
}

// TestRollbackAfterCrashMidApply: a record left at "applying" (the run died
// between writes) is rolled back like a finished one.
func TestRollbackAfterCrashMidApply(t *testing.T) {
	sys := sysctltest.Tree(t, sysctltest.With(map[string]string{"net/core/netdev_max_backlog": "16384\n"}))
	stateDir := t.TempDir()
	err := sysctl.SaveState(stateDir, sysctl.State{
		Status: sysctl.StatusApplying, SysRoot: sys,
		Steps: []sysctl.Step{
			{Key: "net.core.netdev_max_backlog", Previous: "1000", Value: "16384"},
			{Key: "fs.nr_open", Previous: "1048576", Value: "2097152"}, // never written
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ios, _, _, _ := iostreams.Test()
	o := &Options{IO: ios, Roots: hostfs.Roots{Sys: sys, Proc: sysctltest.Proc(t, "1")}, Rollback: true, Yes: true, Output: "table", StateDir: stateDir}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := tuneRun(o); err != nil {
		t.Fatal(err)
	}
	fsys := sysctl.NewFS(sys)
	for key, want := range map[string]string{"net.core.netdev_max_backlog": "1000", "fs.nr_open": "1048576"} {
		if got, _ := fsys.ReadString(key); got != want {
			t.Errorf("%s = %s after rollback, want %s", key, got, want)
		}
	}
}

// TestRollbackRefusesOtherNamespace: per-netns values recorded in one
// namespace are not replayed into another.
func TestRollbackRefusesOtherNamespace(t *testing.T) {
	sys := sysctltest.Tree(t, sysctltest.With(map[string]string{"net/core/somaxconn": "8192\n"}))
	stateDir := t.TempDir()
	err := sysctl.SaveState(stateDir, sysctl.State{
		Status: sysctl.StatusApplied, SysRoot: sys, Netns: 111,
		Steps: []sysctl.Step{{Key: "net.core.somaxconn", Previous: "4096", Value: "8192"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ios, _, _, _ := iostreams.Test()
	o := &Options{IO: ios, Roots: hostfs.Roots{Sys: sys, Proc: sysctltest.Proc(t, "222")}, Rollback: true, Yes: true, Output: "table", StateDir: stateDir}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	err = tuneRun(o)
	if cmdutil.ExitCode(err) != cmdutil.ExitEnv || !strings.Contains(err.Error(), "netns:[111]") {
		t.Errorf("rollback from another namespace: %v; want exit 3 naming netns:[111]", err)
	}
	if got, _ := sysctl.NewFS(sys).ReadString("net.core.somaxconn"); got != "8192" {
		t.Errorf("somaxconn = %s, want 8192 untouched", got)
	}
}

// TestBootNetnsWarning: persisting per-netns keys from a namespace that is
// not init's warns; from init's own, or for global keys only, it does not.
func TestBootNetnsWarning(t *testing.T) {
	proc := sysctltest.Proc(t, "222")
	if err := os.MkdirAll(filepath.Join(proc, "1/ns"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("net:[111]", filepath.Join(proc, "1/ns/net")); err != nil {
		t.Fatal(err)
	}
	o := &Options{Roots: hostfs.Roots{Proc: proc}, PersistFile: "/etc/sysctl.d/90-backlogctl.conf"}
	netns := advise.Plan{Changes: []advise.Change{{Key: "net.core.somaxconn", Scope: sysctl.ScopeNetns}}}
	global := advise.Plan{Changes: []advise.Change{{Key: "fs.nr_open", Scope: sysctl.ScopeGlobal}}}
	if got := bootNetnsWarning(o, netns); len(got) != 1 || !strings.Contains(got[0], "init's netns:[111]") {
		t.Errorf("per-netns key from netns 222: %q; want a warning naming init's netns:[111]", got)
	}
	if got := bootNetnsWarning(o, global); len(got) != 0 {
		t.Errorf("global keys only: %q; want no warning", got)
	}
	o.Roots.Proc = sysctltest.Proc(t, "111")
	if err := os.MkdirAll(filepath.Join(o.Roots.Proc, "1/ns"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("net:[111]", filepath.Join(o.Roots.Proc, "1/ns/net")); err != nil {
		t.Fatal(err)
	}
	if got := bootNetnsWarning(o, netns); len(got) != 0 {
		t.Errorf("from init's own namespace: %q; want no warning", got)
	}
	// /proc/1/ns/net unreadable (hidepid, another pid namespace): the
	// tunables tell init's namespace (it alone has netdev_max_backlog) ...
	o.Roots.Proc = sysctltest.Proc(t, "111")
	o.Roots.Sys = sysctltest.Tree(t, map[string]string{"net/core/somaxconn": "4096\n", "net/core/netdev_max_backlog": "1000\n"})
	if got := bootNetnsWarning(o, netns); len(got) != 0 {
		t.Errorf("without /proc/1/ns/net, in init's namespace by its tunables: %q; want no warning", got)
	}
	o.Roots.Sys = sysctltest.Tree(t, map[string]string{"net/core/somaxconn": "4096\n"})
	if got := bootNetnsWarning(o, netns); len(got) != 1 || !strings.Contains(got[0], "other than the host's initial one") {
		t.Errorf("without /proc/1/ns/net, in a child namespace by its tunables: %q; want the warning", got)
	}
	// ... unless net.core is hidden too (rootless containers before 6.12): say so.
	o.Roots.Sys = sysctltest.Tree(t, map[string]string{"fs/file-max": "100\n"})
	if got := bootNetnsWarning(o, netns); len(got) != 1 || !strings.Contains(got[0], "cannot tell whether this is the host's network namespace") {
		t.Errorf("without /proc/1/ns/net: %q; want one warning saying it cannot tell", got)
	}
	if got := bootNetnsWarning(o, global); len(got) != 0 {
		t.Errorf("without /proc/1/ns/net, global keys only: %q; want no warning", got)
	}
}
