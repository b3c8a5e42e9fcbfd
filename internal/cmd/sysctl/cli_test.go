package sysctl_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/internal/cmd/app"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/sysctl"
	"github.com/backlogctl/backlogctl/sysctl/sysctltest"
)

func TestMain(m *testing.M) { nstest.Main(m, app.Main) }

// run runs backlogctl sysctl ARGS against the fixture tree sys.
func run(t *testing.T, sys string, args ...string) nstest.Result {
	t.Helper()
	return nstest.RunCLI(t, nstest.CLI{Args: append([]string{"sysctl"}, args...), Env: []string{"BACKLOGCTL_SYSCTL_ROOT=" + sys}})
}

func TestGet(t *testing.T) {
	sys := sysctltest.Tree(t, sysctltest.With(map[string]string{
		"net/core/netdev_max_backlog":  "", // a global key absent, as in a child netns
		"net/ipv4/ip_local_port_range": "32768\t60999\n",
	}))
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{name: "alias and full name", args: []string{"get", "somaxconn", "net.ipv4.tcp_syncookies"},
			stdout: "net.core.somaxconn = 4096\nnet.ipv4.tcp_syncookies = 1\n"},
		{name: "values only", args: []string{"get", "-n", "somaxconn", "net/ipv4/tcp_synack_retries"}, stdout: "4096\n5\n"},
		{name: "json", args: []string{"get", "-o", "json", "nr_open"},
			stdout: "[\n  {\n    \"key\": \"fs.nr_open\",\n    \"value\": \"1048576\"\n  }\n]\n"},
		{name: "all visible keys", args: []string{"get", "-n"}, stdout: "4096\n1024\n1\n0\n5\n9223372036854775807\n1048576\n"},
		{name: "unknown key", args: []string{"get", "net.ipv4.ip_local_port_range"}, code: 2, stderr: "--force allows any key"},
		{name: "unknown key with --force", args: []string{"get", "--force", "net.ipv4.ip_local_port_range"},
			stdout: "net.ipv4.ip_local_port_range = 32768\t60999\n"},
		{name: "absent key", args: []string{"get", "somaxconn", "netdev_max_backlog"}, code: 3,
			stdout: "net.core.somaxconn = 4096\n", stderr: "net.core.netdev_max_backlog: not visible here"},
		{name: "dot-dot", args: []string{"get", "--force", "net/../../etc/passwd"}, code: 2, stderr: "'..'"},
		{name: "absolute", args: []string{"get", "--force", "/etc/passwd"}, code: 2, stderr: "absolute"},
		{name: "directory", args: []string{"get", "--force", "net.core"}, code: 2, stderr: "is a directory"},
		{name: "bad output", args: []string{"get", "-o", "xml"}, code: 2, stderr: "invalid --output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, sys, tt.args...)
			if res.Code != tt.code || !strings.Contains(res.Stderr, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", res.Code, res.Stderr, tt.code, tt.stderr)
			}
			if diff := cmp.Diff(tt.stdout, res.Stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGetRefusesSymlinkEscape: a symlink inside the tree that leads out of
// it is not followed, even with --force.
func TestGetRefusesSymlinkEscape(t *testing.T) {
	sys := sysctltest.Tree(t, sysctltest.Base())
	secret := filepath.Join(sysctltest.Tree(t, map[string]string{"secret": "42\n"}), "secret")
	if err := os.Symlink(secret, filepath.Join(sys, "net/core/escape")); err != nil {
		t.Fatal(err)
	}
	res := run(t, sys, "get", "--force", "net.core.escape")
	if res.Code != 2 || !strings.Contains(res.Stderr, "resolves outside") || strings.Contains(res.Stdout, "42") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 2, 'resolves outside' and no value", res.Code, res.Stdout, res.Stderr)
	}
}

func TestSet(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
		after  map[string]string // tree edits expected after the run
	}{
		{name: "two keys", args: []string{"set", "somaxconn=8192", "net.core.netdev_max_backlog=2000"},
			stdout: "net.core.somaxconn = 8192\nnet.core.netdev_max_backlog = 2000\n",
			after:  map[string]string{"net/core/somaxconn": "8192", "net/core/netdev_max_backlog": "2000"}},
		{name: "lowering needs --allow-lower", args: []string{"set", "somaxconn=128"}, code: 2,
			stderr: "refusing to lower net.core.somaxconn from 4096 to 128 without --allow-lower; nothing was changed"},
		{name: "lowering with --allow-lower", args: []string{"set", "--allow-lower", "somaxconn=128"}, stdout: "net.core.somaxconn = 128\n",
			after: map[string]string{"net/core/somaxconn": "128"}},
		{name: "a mode key is not lowered", args: []string{"set", "tcp_syncookies=0"}, stdout: "net.ipv4.tcp_syncookies = 0\n",
			after: map[string]string{"net/ipv4/tcp_syncookies": "0"}},
		{name: "octal as the kernel reads it", args: []string{"set", "tcp_synack_retries=010"}, code: 2,
			stderr: `the kernel reads "010" as 8`},
		{name: "hex as the kernel reads it", args: []string{"set", "somaxconn=0x1000"}, code: 2,
			stderr: `the kernel reads "0x1000" as 4096`},
		{name: "json", args: []string{"set", "-o", "json", "tcp_synack_retries=7"},
			stdout: "[\n  {\n    \"key\": \"net.ipv4.tcp_synack_retries\",\n    \"value\": \"7\"\n  }\n]\n",
			after:  map[string]string{"net/ipv4/tcp_synack_retries": "7"}},
		{name: "second value bad: nothing written", args: []string{"set", "somaxconn=8192", "tcp_syncookies=300"}, code: 2, stderr: "300 is out of range 0..255"},
		{name: "non-numeric", args: []string{"set", "somaxconn=big"}, code: 2, stderr: `"big" is not an integer`},
		{name: "unknown key", args: []string{"set", "net.ipv4.ip_forward=1"}, code: 2, stderr: "not a tunable backlogctl knows"},
		{name: "dot-dot with --force", args: []string{"set", "--force", "../../etc/passwd=x"}, code: 2, stderr: "'..'"},
		{name: "no equals", args: []string{"set", "somaxconn"}, code: 2, stderr: "want KEY=VALUE"},
		{name: "twice", args: []string{"set", "somaxconn=10000", "net.core.somaxconn=20000"}, code: 2, stderr: "set twice"},
		{name: "no arguments", args: []string{"set"}, code: 2, stderr: "sysctl set needs at least 1 KEY=VALUE"},
		{name: "absent key: nothing written", args: []string{"set", "somaxconn=8192", "--force", "net.ipv4.no_such_key=1"}, code: 3, stderr: "not visible here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := sysctltest.Tree(t, sysctltest.Base())
			want := sysctltest.Read(t, sys)
			for k, v := range tt.after {
				want[k] = v
			}
			res := nstest.RunCLI(t, nstest.CLI{
				Args: append(append([]string{"sysctl"}, tt.args...), "--state-dir", t.TempDir()),
				Env:  []string{"BACKLOGCTL_SYSCTL_ROOT=" + sys},
			})
			if res.Code != tt.code || !strings.Contains(res.Stderr, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", res.Code, res.Stderr, tt.code, tt.stderr)
			}
			if tt.code != 0 && strings.Count(strings.TrimSpace(res.Stderr), "\n") != 0 {
				t.Errorf("stderr is not one line: %q", res.Stderr)
			}
			if diff := cmp.Diff(tt.stdout, res.Stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, sysctltest.Read(t, sys)); diff != "" {
				t.Errorf("tree after the run (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetLockContention(t *testing.T) {
	sys := sysctltest.Tree(t, sysctltest.Base())
	state := t.TempDir()
	lock, err := sysctl.AcquireLock(state)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	res := nstest.RunCLI(t, nstest.CLI{Args: []string{"sysctl", "set", "somaxconn=8192", "--state-dir", state}, Env: []string{"BACKLOGCTL_SYSCTL_ROOT=" + sys}})
	if res.Code != 3 || !strings.Contains(res.Stderr, fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("exit %d, stderr %q; want 3 naming the lock holder", res.Code, res.Stderr)
	}
}

// TestSetRealKernelReadOnlyKey: in the test's own namespaces, a read-only
// key among three is found before any write; then a good set is read back.
func TestSetRealKernelReadOnlyKey(t *testing.T) {
	if !nstest.IsolateMount(t) {
		return
	}
	nstest.SetSysctl(t, "net.core.somaxconn", 1000)
	nstest.SetSysctl(t, "net.ipv4.tcp_synack_retries", 4)
	nstest.BindReadOnly(t, "/proc/sys/net/ipv4/tcp_synack_retries")
	state := t.TempDir()
	set := func(args ...string) nstest.Result {
		return nstest.RunCLI(t, nstest.CLI{Args: append(append([]string{"sysctl", "set"}, args...), "--state-dir", state)})
	}
	res := set("somaxconn=8192", "tcp_max_syn_backlog=8192", "tcp_synack_retries=3")
	if res.Code != 3 || !strings.Contains(res.Stderr, "net.ipv4.tcp_synack_retries") || !strings.Contains(res.Stderr, "read-only") {
		t.Errorf("exit %d, stderr %q; want 3 naming the read-only key", res.Code, res.Stderr)
	}
	if v, _ := sysctl.NewFS("").ReadString("net.core.somaxconn"); v != "1000" {
		t.Errorf("somaxconn = %s after a refused set, want 1000", v)
	}
	res = set("somaxconn=8192")
	if res.Code != 0 || res.Stdout != "net.core.somaxconn = 8192\n" {
		t.Errorf("exit %d, stdout %q, stderr %q; want the value set", res.Code, res.Stdout, res.Stderr)
	}
	if v, _ := sysctl.NewFS("").ReadString("net.core.somaxconn"); v != "8192" {
		t.Errorf("somaxconn = %s, want 8192", v)
	}
}

// TestSetKernelRefusesMidway: the kernel refuses the second write with EINVAL
// (an inverted port range, ipv4_local_port_range) after the first was made;
// set restores the first and exits 3 naming the refused key.
func TestSetKernelRefusesMidway(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	nstest.SetSysctl(t, "net.core.somaxconn", 1000)
	keys := []string{"net.core.somaxconn", "net.ipv4.ip_local_port_range"}
	before := sysctltest.Values(t, sysctl.DefaultRoot, keys...)
	res := nstest.RunCLI(t, nstest.CLI{Args: []string{"sysctl", "set", "--force", "--state-dir", t.TempDir(),
		"somaxconn=8192", "net.ipv4.ip_local_port_range=60000 50000"}})
	for _, want := range []string{"net.ipv4.ip_local_port_range=60000 50000 failed", "the kernel rejected the value (EINVAL)", "restored net.core.somaxconn"} {
		if res.Code != 3 || !strings.Contains(res.Stderr, want) {
			t.Errorf("exit %d, stderr %q; want 3 and %q", res.Code, res.Stderr, want)
		}
	}
	if diff := cmp.Diff(before, sysctltest.Values(t, sysctl.DefaultRoot, keys...)); diff != "" {
		t.Errorf("values after the refused set (-before +after):\n%s", diff)
	}
}

// TestSetWithoutPermission: a user who is not root gets exit 3, one line,
// and no change.
func TestSetWithoutPermission(t *testing.T) {
	nstest.RequireRoot(t) // to switch to another user
	sys := sysctltest.Tree(t, sysctltest.Base())
	state := filepath.Join(sysctltest.Tree(t, nil), "state")
	// Sticky, as /tmp: the user may create its state dir there, and no one
	// else may replace it.
	if err := os.Chmod(filepath.Dir(state), 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	res := nstest.RunCLI(t, nstest.CLI{
		Args: []string{"sysctl", "set", "somaxconn=8192", "--state-dir", state},
		Env:  []string{"BACKLOGCTL_SYSCTL_ROOT=" + sys}, UID: 65534,
	})
	if res.Code != 3 || !strings.Contains(res.Stderr, "permission denied (writing tunables needs root)") || strings.Count(strings.TrimSpace(res.Stderr), "\n") != 0 {
		t.Errorf("exit %d, stderr %q; want 3 and one line saying permission denied", res.Code, res.Stderr)
	}
	if v := sysctltest.Values(t, sys, "net.core.somaxconn")["net.core.somaxconn"]; v != "4096" {
		t.Errorf("somaxconn = %s, want 4096", v)
	}
}

// Keys complete for get, and with a trailing '=' for set.
func TestCompletion(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "sysctl", "get", "somax"}, "somaxconn\n"},
		{[]string{"__complete", "sysctl", "set", "tcp_syncoo"}, "tcp_syncookies=\t"},
	} {
		res := nstest.RunCLI(t, nstest.CLI{Args: tt.args})
		if res.Code != 0 || !strings.Contains(res.Stdout, tt.want) {
			t.Errorf("%v: exit %d, stdout %q; want a line starting %q", tt.args, res.Code, res.Stdout, tt.want)
		}
	}
}

// TestSetIsRecordedForRollback: set records the previous values in the
// state dir tune uses, so `tune --rollback` undoes it, port ranges included
// (a key outside the registry with --force, as set wrote it);
// while a set is unresolved (killed midway) the next set refuses to start.
func TestSetIsRecordedForRollback(t *testing.T) {
	sys := sysctltest.Tree(t, sysctltest.With(map[string]string{"net/ipv4/ip_local_port_range": "32768\t60999\n"}))
	state := t.TempDir()
	before := sysctltest.Read(t, sys)
	cli := func(args ...string) nstest.Result {
		return nstest.RunCLI(t, nstest.CLI{Args: append(args, "--state-dir", state), Env: []string{"BACKLOGCTL_SYSCTL_ROOT=" + sys}})
	}
	if res := cli("sysctl", "set", "--force", "somaxconn=8192", "net.ipv4.ip_local_port_range=10000 65000"); res.Code != 0 {
		t.Fatalf("set: exit %d %s", res.Code, res.Stderr)
	}
	st, err := sysctl.LoadState(state)
	if err != nil || st.Command != "sysctl set" || st.Status != sysctl.StatusApplied || len(st.Steps) != 2 {
		t.Fatalf("record after set = %+v, %v; want an applied sysctl set with 2 steps", st, err)
	}
	// A key outside the registry is restored only with --force, as it was
	// written: a record must not make a rollback write keys set never could.
	if res := cli("tune", "--rollback", "--yes"); res.Code != 2 || !strings.Contains(res.Stderr, "needs --force") {
		t.Fatalf("tune --rollback of a --force set: exit %d %s; want 2 asking for --force", res.Code, res.Stderr)
	}
	if res := cli("tune", "--rollback", "--force", "--yes"); res.Code != 0 {
		t.Fatalf("tune --rollback --force: exit %d %s", res.Code, res.Stderr)
	}
	if diff := cmp.Diff(before, sysctltest.Read(t, sys)); diff != "" {
		t.Errorf("tree after the rollback (-before +after):\n%s", diff)
	}

	// A set that died after recording: the next one refuses, naming it.
	st.Status = sysctl.StatusApplying
	if err := sysctl.SaveState(state, st); err != nil {
		t.Fatal(err)
	}
	res := cli("sysctl", "set", "tcp_max_syn_backlog=4096")
	if res.Code != 3 || !strings.Contains(res.Stderr, "the sysctl set of") || !strings.Contains(res.Stderr, "backlogctl tune --rollback") {
		t.Errorf("set over an unresolved set: exit %d %q; want 3 naming it and tune --rollback", res.Code, res.Stderr)
	}
	if res := cli("sysctl", "set", "--force-new", "tcp_max_syn_backlog=4096"); res.Code != 0 {
		t.Errorf("set --force-new: exit %d %q", res.Code, res.Stderr)
	}
	if st, _ := sysctl.LoadState(state); st.Superseded == nil || st.Superseded.Command != "sysctl set" {
		t.Errorf("after --force-new the record does not keep the old one: %+v", st)
	}
}
