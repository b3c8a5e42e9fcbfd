package tune_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/internal/cmd/app"
	"github.com/backlogctl/backlogctl/internal/cmd/tune"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/sysctl"
	"github.com/backlogctl/backlogctl/sysctl/sysctltest"
)

func TestMain(m *testing.M) { nstest.Main(m, app.Main) }

// host is a fixture host: a /proc/sys tree, a /proc with a netns link, a
// state dir and a boot-time search order, all under temp dirs.
type host struct {
	sys, proc, state string
	etcD, usrD       string // two of the sysctl.d dirs
	conf             string // the sysctl.conf read last
}

func newHost(t *testing.T, files map[string]string) *host {
	t.Helper()
	conf := sysctltest.Tree(t, nil)
	h := &host{
		sys:   sysctltest.Tree(t, files),
		proc:  sysctltest.Proc(t, "4026532000"),
		state: filepath.Join(sysctltest.Tree(t, nil), "state"),
		etcD:  filepath.Join(conf, "etc/sysctl.d"),
		usrD:  filepath.Join(conf, "usr/lib/sysctl.d"),
		conf:  filepath.Join(conf, "etc/sysctl.conf"),
	}
	for _, d := range []string{h.etcD, h.usrD} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func (h *host) env() []string {
	return []string{
		"BACKLOGCTL_SYSCTL_ROOT=" + h.sys,
		"BACKLOGCTL_PROC_ROOT=" + h.proc,
		tune.EnvConfDirs + "=" + h.etcD + ":" + h.usrD,
		tune.EnvConf + "=" + h.conf,
	}
}

// run runs `backlogctl tune ARGS --state-dir STATE` against the fixture host.
func (h *host) run(t *testing.T, args ...string) nstest.Result {
	t.Helper()
	args = append(append([]string{"tune"}, args...), "--state-dir", h.state)
	return nstest.RunCLI(t, nstest.CLI{Args: args, Env: h.env()})
}

func (h *host) value(t *testing.T, key string) string {
	t.Helper()
	v, err := sysctl.NewFS(h.sys).ReadString(key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTuneDryRunShowsDiffAndChangesNothing(t *testing.T) {
	h := newHost(t, sysctltest.With(map[string]string{"net/ipv4/tcp_syncookies": "0\n"}))
	before := sysctltest.Read(t, h.sys)
	res := h.run(t, "--profile", "high-concurrency", "--set", "tcp_max_syn_backlog=4096")
	if res.Code != 0 {
		t.Fatalf("exit %d: %s", res.Code, res.Stderr)
	}
	want := "KEY\tCURRENT\tNEW\tSCOPE\tWHY\n" +
		"net.core.somaxconn\t4096\t65535\tnetns:[4026532000]\tprofile high-concurrency sets net.core.somaxconn to 65535\n" +
		"net.ipv4.tcp_max_syn_backlog\t1024\t4096\tnetns:[4026532000]\t--set net.ipv4.tcp_max_syn_backlog=4096\n" +
		"net.ipv4.tcp_syncookies\t0\t1\tnetns:[4026532000]\tprofile high-concurrency sets net.ipv4.tcp_syncookies to 1\n" +
		"net.core.netdev_max_backlog\t1000\t16384\tglobal\tprofile high-concurrency sets net.core.netdev_max_backlog to 16384\n"
	// fs.nr_open and fs.file-max are already at or above the profile: not in the plan.
	if diff := cmp.Diff(want, res.Stdout); diff != "" {
		t.Errorf("diff output (-want +got):\n%s", diff)
	}
	if !strings.Contains(res.Stderr, "dry run: nothing was changed") {
		t.Errorf("stderr %q does not say it was a dry run", res.Stderr)
	}
	if diff := cmp.Diff(before, sysctltest.Read(t, h.sys)); diff != "" {
		t.Errorf("a dry run changed the tree (-before +after):\n%s", diff)
	}
	if _, err := os.Stat(h.state); !os.IsNotExist(err) {
		t.Errorf("a dry run created the state dir: %v", err)
	}
}

func TestTuneJSON(t *testing.T) {
	h := newHost(t, sysctltest.Base())
	res := h.run(t, "--set", "somaxconn=8192", "--set", "netdev_max_backlog=2000", "-o", "json")
	if res.Code != 0 {
		t.Fatalf("exit %d: %s", res.Code, res.Stderr)
	}
	var got tune.Report
	if err := json.Unmarshal([]byte(res.Stdout), &got); err != nil {
		t.Fatalf("output is not a report: %v\n%s", err, res.Stdout)
	}
	type row struct {
		Key     string
		Current int64
		Target  int64
		Netns   uint64
	}
	var rows []row
	for _, c := range got.Changes {
		rows = append(rows, row{c.Key, *c.Current, c.Target, c.Netns})
	}
	want := []row{{"net.core.somaxconn", 4096, 8192, 4026532000}, {"net.core.netdev_max_backlog", 1000, 2000, 0}}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if got.Action != "plan" || got.Done || got.Netns != 4026532000 {
		t.Errorf("report = %+v, want an undone plan in netns 4026532000", got)
	}
}

// TestTuneApplyThenRollback writes global keys, so only into a fixture tree.
func TestTuneApplyThenRollback(t *testing.T) {
	h := newHost(t, sysctltest.Base())
	before := sysctltest.Read(t, h.sys)
	res := h.run(t, "--set", "netdev_max_backlog=16384", "--set", "nr_open=2097152", "--set", "somaxconn=8192", "--apply", "--yes")
	if res.Code != 0 {
		t.Fatalf("apply: exit %d: %s", res.Code, res.Stderr)
	}
	for key, want := range map[string]string{"net.core.netdev_max_backlog": "16384", "fs.nr_open": "2097152", "net.core.somaxconn": "8192"} {
		if got := h.value(t, key); got != want {
			t.Errorf("after apply %s = %s, want %s", key, got, want)
		}
	}
	state, err := sysctl.LoadState(h.state)
	if err != nil {
		t.Fatal(err)
	}
	wantSteps := []sysctl.Step{
		{Key: "net.core.somaxconn", Previous: "4096", Value: "8192"},
		{Key: "net.core.netdev_max_backlog", Previous: "1000", Value: "16384"},
		{Key: "fs.nr_open", Previous: "1048576", Value: "2097152"},
	}
	if diff := cmp.Diff(wantSteps, state.Steps); diff != "" || state.Status != sysctl.StatusApplied || state.Netns != 4026532000 {
		t.Errorf("state %+v; steps (-want +got):\n%s", state, diff)
	}

	res = h.run(t, "--rollback", "--yes")
	if res.Code != 0 {
		t.Fatalf("rollback: exit %d: %s", res.Code, res.Stderr)
	}
	if diff := cmp.Diff(before, sysctltest.Read(t, h.sys)); diff != "" {
		t.Errorf("rollback did not restore the exact values (-before +after):\n%s", diff)
	}
	res = h.run(t, "--rollback", "--yes")
	if res.Code != 3 || !strings.Contains(res.Stderr, "already rolled back") {
		t.Errorf("second rollback: exit %d, %q; want 3 and 'already rolled back'", res.Code, res.Stderr)
	}
}

func TestTuneAllowLower(t *testing.T) {
	h := newHost(t, sysctltest.Base())
	res := h.run(t, "--set", "somaxconn=1024")
	if res.Code != 0 || !strings.Contains(res.Stdout, "needs --allow-lower") {
		t.Errorf("dry run: exit %d, stdout %q; want 0 and a note that it needs --allow-lower", res.Code, res.Stdout)
	}
	res = h.run(t, "--set", "somaxconn=1024", "--set", "netdev_max_backlog=2000", "--apply", "--yes")
	if res.Code != 2 || !strings.Contains(res.Stderr, "net.core.somaxconn from 4096 to 1024") {
		t.Errorf("without --allow-lower: exit %d, %q; want 2 naming the lowered key", res.Code, res.Stderr)
	}
	if h.value(t, "net.core.somaxconn") != "4096" || h.value(t, "net.core.netdev_max_backlog") != "1000" {
		t.Error("a refused lowering changed values")
	}
	res = h.run(t, "--set", "somaxconn=1024", "--apply", "--yes", "--allow-lower")
	if res.Code != 0 || h.value(t, "net.core.somaxconn") != "1024" {
		t.Errorf("with --allow-lower: exit %d (%s), somaxconn %s; want 0 and 1024", res.Code, res.Stderr, h.value(t, "net.core.somaxconn"))
	}
	// Mode keys are switched, not lowered: the rule sysctl set shares.
	res = h.run(t, "--set", "tcp_syncookies=0", "--apply", "--yes")
	if res.Code != 0 || h.value(t, "net.ipv4.tcp_syncookies") != "0" || strings.Contains(res.Stdout, "needs --allow-lower") {
		t.Errorf("tcp_syncookies 1 -> 0: exit %d (%s), value %s; want 0 without --allow-lower", res.Code, res.Stderr, h.value(t, "net.ipv4.tcp_syncookies"))
	}
}

func TestTuneLockContention(t *testing.T) {
	h := newHost(t, sysctltest.Base())
	lock, err := sysctl.AcquireLock(h.state)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	for _, args := range [][]string{{"--set", "somaxconn=8192", "--apply", "--yes"}, {"--rollback", "--yes"}} {
		res := h.run(t, args...)
		if res.Code != 3 || !strings.Contains(res.Stderr, "another backlogctl run") || !strings.Contains(res.Stderr, fmt.Sprintf("pid %d", os.Getpid())) {
			t.Errorf("tune %v while locked: exit %d, %q; want 3 naming the holder", args, res.Code, res.Stderr)
		}
	}
	if h.value(t, "net.core.somaxconn") != "4096" {
		t.Error("a run that did not get the lock changed a value")
	}
}

func TestTunePersist(t *testing.T) {
	h := newHost(t, sysctltest.Base())
	vendor := filepath.Join(h.usrD, "95-vendor.conf")
	if err := os.WriteFile(vendor, []byte("net.core.somaxconn = 128\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(h.etcD, "90-backlogctl.conf")
	res := h.run(t, "--set", "somaxconn=8192", "--set", "syncookies=1", "--set", "tcp_max_syn_backlog=2048", "--apply", "--yes", "--persist="+file)
	if res.Code != 0 {
		t.Fatalf("exit %d: %s", res.Code, res.Stderr)
	}
	wantWarn := vendor + ":1 sets net.core.somaxconn = 128 and is read later, so it wins at boot"
	if !strings.Contains(res.Stderr, wantWarn) {
		t.Errorf("stderr %q does not warn %q", res.Stderr, wantWarn)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := `# Written by backlogctl (tune --persist).
# Read at boot by systemd-sysctl and ` + "`sysctl --system`" + `. Change it with
# ` + "`backlogctl tune --persist`; `backlogctl tune --rollback`" + ` undoes the last change.

# --set net.core.somaxconn=8192
net.core.somaxconn = 8192

# --set net.ipv4.tcp_max_syn_backlog=2048
net.ipv4.tcp_max_syn_backlog = 2048
`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("persisted file (-want +got):\n%s", diff)
	}
	if res := h.run(t, "--rollback", "--yes"); res.Code != 0 {
		t.Fatalf("rollback: exit %d: %s", res.Code, res.Stderr)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("rollback left the persisted file that did not exist before: %v", err)
	}
}

// TestTuneBadInput: each mistake a new user might make is one line on
// stderr, the right exit code, and no change anywhere.
func TestTuneBadInput(t *testing.T) {
	foreign := "# the admin's own file\nnet.core.somaxconn = 1\n"
	tests := []struct {
		name  string
		files map[string]string // fixture edits
		args  []string
		code  int
		say   string
	}{
		{"non-numeric", nil, []string{"--set", "somaxconn=lots"}, 2, `"lots" is not an integer`},
		{"negative", nil, []string{"--set", "somaxconn=-5"}, 2, "out of range 0..2147483647"},
		{"u8 out of range", nil, []string{"--set", "tcp_syncookies=256", "--apply", "--yes"}, 2, "256 is out of range 0..255"},
		{"too large", nil, []string{"--set", "somaxconn=99999999999999999999"}, 2, "out of range"},
		{"no value", nil, []string{"--set", "somaxconn"}, 2, "want KEY=VALUE"},
		{"unknown key", nil, []string{"--set", "net.ipv4.ip_forward=1"}, 2, "not a tunable backlogctl knows"},
		{"dot-dot key", nil, []string{"--set", "../../etc/passwd=1", "--apply", "--yes"}, 2, "'..'"},
		{"absolute key", nil, []string{"--set", "/proc/sys/net/core/somaxconn=1"}, 2, "absolute"},
		{"same key twice", nil, []string{"--set", "somaxconn=8192", "--set", "net.core.somaxconn=9000"}, 2, "given twice"},
		{"unknown profile", nil, []string{"--profile", "fast"}, 2, `unknown profile "fast"`},
		{"bad output", nil, []string{"--set", "somaxconn=8192", "-o", "xml"}, 2, "invalid --output"},
		{"stray argument", nil, []string{"somaxconn=8192"}, 2, "unknown command"},
		{"persist without apply", nil, []string{"--set", "somaxconn=8192", "--persist"}, 2, "--persist needs --apply"},
		{"rollback with set", nil, []string{"--rollback", "--set", "somaxconn=8192"}, 2, "--rollback takes no"},
		{"no terminal, no --yes", nil, []string{"--set", "somaxconn=8192", "--apply"}, 2, "pass --yes"},
		{"persist over a foreign file", map[string]string{"etc/sysctl.d/90-backlogctl.conf": foreign}, []string{"--set", "somaxconn=8192", "--apply", "--yes", "--persist=ETCD/90-backlogctl.conf"}, 2, "was not written by backlogctl"},
		{"global key absent here", map[string]string{"net/core/netdev_max_backlog": ""}, []string{"--set", "somaxconn=8192", "--set", "netdev_max_backlog=2000", "--apply", "--yes"}, 3, "not visible here"},
		{"nothing to roll back", nil, []string{"--rollback", "--yes"}, 3, "nothing to roll back"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t, sysctltest.With(sysEdits(tt.files)))
			for rel, content := range tt.files {
				if strings.HasPrefix(rel, "etc/sysctl.d/") {
					if err := os.WriteFile(filepath.Join(h.etcD, filepath.Base(rel)), []byte(content), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			sysBefore, confBefore := sysctltest.Read(t, h.sys), sysctltest.Read(t, filepath.Dir(filepath.Dir(h.etcD)))
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				args[i] = strings.ReplaceAll(a, "ETCD", h.etcD)
			}
			res := h.run(t, args...)
			if res.Code != tt.code || !strings.Contains(res.Stderr, tt.say) {
				t.Errorf("exit %d, stderr %q; want %d and %q", res.Code, res.Stderr, tt.code, tt.say)
			}
			if n := strings.Count(strings.TrimSpace(res.Stderr), "\n"); n != 0 {
				t.Errorf("stderr has %d lines, want one:\n%s", n+1, res.Stderr)
			}
			if diff := cmp.Diff(sysBefore, sysctltest.Read(t, h.sys)); diff != "" {
				t.Errorf("bad input changed tunables (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(confBefore, sysctltest.Read(t, filepath.Dir(filepath.Dir(h.etcD)))); diff != "" {
				t.Errorf("bad input changed sysctl.d (-before +after):\n%s", diff)
			}
			if _, err := os.Stat(filepath.Join(h.state, sysctl.StateFile)); !os.IsNotExist(err) {
				t.Errorf("bad input recorded an apply: %v", err)
			}
		})
	}
}

// sysEdits keeps the edits that belong in the /proc/sys tree.
func sysEdits(files map[string]string) map[string]string {
	out := map[string]string{}
	for rel, content := range files {
		if !strings.HasPrefix(rel, "etc/") {
			out[rel] = content
		}
	}
	return out
}

// TestTuneWithoutPermission: a user who is not root gets exit 3 and one
// line, and nothing changes.
func TestTuneWithoutPermission(t *testing.T) {
	nstest.RequireRoot(t) // to switch to another user
	h := newHost(t, sysctltest.Base())
	stateParent := filepath.Dir(h.state)
	// Sticky, as /tmp: the user may create its state dir there, and no one
	// else may replace it.
	if err := os.Chmod(stateParent, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	before := sysctltest.Read(t, h.sys)
	args := []string{"tune", "--set", "somaxconn=8192", "--apply", "--yes", "--state-dir", h.state}
	res := nstest.RunCLI(t, nstest.CLI{Args: args, Env: h.env(), UID: 65534})
	if res.Code != 3 || !strings.Contains(res.Stderr, "cannot write net.core.somaxconn: permission denied") {
		t.Errorf("exit %d, stderr %q; want 3 and permission denied", res.Code, res.Stderr)
	}
	if diff := cmp.Diff(before, sysctltest.Read(t, h.sys)); diff != "" {
		t.Errorf("changed (-before +after):\n%s", diff)
	}
}

// Without --profile or --set, tune plans from advise's findings: syncookies
// off is a warning whose fix is tcp_syncookies=1, and nothing is written
// without --apply.
func TestTunePlansFromFindings(t *testing.T) {
	h := newHost(t, sysctltest.With(map[string]string{"net/ipv4/tcp_syncookies": "0\n"}))
	before := sysctltest.Read(t, h.sys)
	res := h.run(t, "-o", "json")
	if res.Code != 0 {
		t.Fatalf("exit %d: %s", res.Code, res.Stderr)
	}
	if !strings.Contains(res.Stdout, `"key": "net.ipv4.tcp_syncookies"`) || !strings.Contains(res.Stdout, `"target": 1`) {
		t.Errorf("plan from findings lacks tcp_syncookies -> 1:\n%s", res.Stdout)
	}
	if diff := cmp.Diff(before, sysctltest.Read(t, h.sys)); diff != "" {
		t.Errorf("a plan without --apply changed tunables (-before +after):\n%s", diff)
	}
}

// TestTuneRefusesOverUnresolvedApply: a record left at "applying" (a run
// killed after its first write) is not overwritten by the next apply, which
// exits 3 naming it and the commands that resolve it; --force-new goes ahead
// and keeps the old record inside the new one.
func TestTuneRefusesOverUnresolvedApply(t *testing.T) {
	h := newHost(t, sysctltest.With(map[string]string{"net/core/netdev_max_backlog": "16384\n"}))
	killed := sysctl.State{
		Status: sysctl.StatusApplying, Command: "tune --apply", SysRoot: h.sys,
		Steps: []sysctl.Step{{Key: "net.core.netdev_max_backlog", Previous: "1000", Value: "16384"}},
	}
	if err := sysctl.SaveState(h.state, killed); err != nil {
		t.Fatal(err)
	}
	res := h.run(t, "--set", "somaxconn=8192", "--apply", "--yes")
	for _, want := range []string{"was interrupted midway", "net.core.netdev_max_backlog", "backlogctl tune --rollback", "--force-new"} {
		if !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr %q does not say %q", res.Stderr, want)
		}
	}
	if res.Code != 3 || strings.Count(strings.TrimSpace(res.Stderr), "\n") != 0 {
		t.Errorf("exit %d, stderr %q; want 3 and one line", res.Code, res.Stderr)
	}
	if got := h.value(t, "net.core.somaxconn"); got != "4096" {
		t.Errorf("somaxconn = %s after a refused apply, want 4096", got)
	}
	if st, err := sysctl.LoadState(h.state); err != nil || st.Status != sysctl.StatusApplying {
		t.Fatalf("the refused apply changed the record: %+v %v", st, err)
	}

	if res := h.run(t, "--set", "somaxconn=8192", "--apply", "--yes", "--force-new"); res.Code != 0 {
		t.Fatalf("--force-new: exit %d %s", res.Code, res.Stderr)
	}
	st, err := sysctl.LoadState(h.state)
	if err != nil || st.Superseded == nil || st.Superseded.Status != sysctl.StatusApplying ||
		st.Superseded.Steps[0].Key != "net.core.netdev_max_backlog" {
		t.Fatalf("after --force-new the record = %+v, %v; want the old record kept as superseded", st, err)
	}
	if res := h.run(t, "--rollback", "--yes"); res.Code != 0 || h.value(t, "net.core.somaxconn") != "4096" {
		t.Errorf("rollback after --force-new: exit %d %s, somaxconn %s", res.Code, res.Stderr, h.value(t, "net.core.somaxconn"))
	}
	if res := h.run(t, "--force-new"); res.Code != 2 {
		t.Errorf("--force-new without --apply: exit %d, want 2", res.Code)
	}
}
