package tune_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/netns"
	"github.com/backlogctl/backlogctl/netns/netnstest"
	"github.com/backlogctl/backlogctl/sysctl"
)

// Under --netns, every command that writes refuses a key that is not per
// network namespace, in one line and before anything is written: tune --set,
// sysctl set (registry key or --force), and a profile's global keys are left
// out with a warning while its per-netns keys are applied there. The global
// keys are real /proc/sys paths, each with a file laid over it in this
// test's private mount namespace, so a write that should not happen lands
// in the file and never on the host.
func TestNetnsWritesRefuseGlobalKeys(t *testing.T) {
	if !nstest.IsolateMount(t) {
		return
	}
	other := netnstest.Hold(t)
	nstest.PrepareNetns(t, other, 1000, 0)
	host := map[string]string{
		"fs.file-max":   nstest.BindFile(t, "/proc/sys/fs/file-max", "1000000\n"),
		"fs.nr_open":    nstest.BindFile(t, "/proc/sys/fs/nr_open", "1024\n"),
		"vm.swappiness": nstest.BindFile(t, "/proc/sys/vm/swappiness", "60\n"),
	}
	hostWas := map[string]string{"fs.file-max": "1000000", "fs.nr_open": "1024", "vm.swappiness": "60"}
	checkHost := func(what string) {
		t.Helper()
		for k, f := range host {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(b)); got != hostWas[k] {
				t.Errorf("%s: the host's %s became %s (want %s untouched)", what, k, got, hostWas[k])
			}
		}
	}
	state := t.TempDir()
	conf := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"tune --set", []string{"tune", "--netns", other, "--set", "fs.file-max=2000000", "--apply", "--yes"}, "fs.file-max is global"},
		{"tune --set, plan only", []string{"tune", "--netns", other, "--set", "nr_open=2048"}, "fs.nr_open is global"},
		{"sysctl set", []string{"sysctl", "set", "--netns", other, "fs.file-max=2000000"}, "fs.file-max is global"},
		{"sysctl set --force", []string{"sysctl", "set", "--netns", other, "--force", "vm.swappiness=10"}, "vm.swappiness is global"},
		{"empty --netns", []string{"tune", "--netns", "", "--set", "somaxconn=5000", "--apply", "--yes"}, "--netns: the value is empty"},
	} {
		res := nstest.RunCLI(t, nstest.CLI{Args: append(tc.args, "--state-dir", state),
			Env: []string{"BACKLOGCTL_SYSCTL_D_DIRS=" + conf, "BACKLOGCTL_SYSCTL_CONF="}})
		if res.Code != 2 || !strings.Contains(res.Stderr, tc.want) || strings.Count(strings.TrimSpace(res.Stderr), "\n") != 0 {
			t.Errorf("%s: exit %d, stderr %q; want 2 and one line saying %q", tc.name, res.Code, res.Stderr, tc.want)
		}
		checkHost(tc.name)
		if _, err := os.Stat(filepath.Join(state, sysctl.StateFile)); !os.IsNotExist(err) {
			t.Errorf("%s: a refused write recorded a change (%v)", tc.name, err)
		}
	}
	if v, _ := sysctl.NewFS("").ReadString("net.core.somaxconn"); v == "5000" {
		t.Errorf("--netns \"\" wrote somaxconn in the caller's namespace")
	}

	// A profile under --netns: its per-netns keys are applied there, its
	// global ones left out, each with a warning, and the plan shows the
	// namespace as the scope.
	res := nstest.RunCLI(t, nstest.CLI{Args: []string{"tune", "--netns", other, "--profile", "high-concurrency", "--apply", "--yes", "--state-dir", state},
		Env: []string{"BACKLOGCTL_SYSCTL_D_DIRS=" + conf, "BACKLOGCTL_SYSCTL_CONF="}})
	if res.Code != 0 {
		t.Fatalf("tune --netns --profile high-concurrency --apply: exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
	}
	checkHost("tune --netns --profile")
	for _, k := range []string{"fs.file-max", "fs.nr_open"} {
		if !strings.Contains(res.Stderr, "left out "+k) {
			t.Errorf("no warning that %s was left out:\n%s", k, res.Stderr)
		}
	}
	ns, err := netns.Resolve(other, "")
	if err != nil {
		t.Fatal(err)
	}
	if scope := fmt.Sprintf("netns:[%d]", ns.Inode); !strings.Contains(res.Stdout, "net.core.somaxconn") || !strings.Contains(res.Stdout, scope) {
		t.Errorf("the plan does not show somaxconn scoped to %s:\n%s", scope, res.Stdout)
	}
	if got := nstest.SysctlIn(t, other, "net.core.somaxconn"); got != "65535" {
		t.Errorf("somaxconn in the namespace = %s, want the profile's 65535", got)
	}
}
