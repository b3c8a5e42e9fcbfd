package collect

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/model"
)

// When the listeners cannot be dumped (netlink denied; here a closed
// socket), tunables, counters and files are still judged from the fixture
// tree, and listener requirements report why they could not be.
func TestGatherWithoutListeners(t *testing.T) {
	d, err := inspect.NewDumper()
	if err != nil {
		t.Skipf("no sock_diag socket here: %v", err)
	}
	d.Close()
	obs := observePoint(hostfs.Roots{Proc: "testdata/observe/proc", Sys: "testdata/observe/sys"}, inspect.Selection{}, false, d)
	if obs.ListenersError == "" {
		t.Fatalf("dump on a closed socket succeeded: %+v", obs)
	}
	if diff := cmp.Diff(&model.Files{Allocated: 2048, Max: 4096, NrOpen: 1048576}, obs.Files); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	got := map[string]string{}
	for _, r := range mustEval(t, obs, "somaxconn>=4096", "tcp_syncookies==1", "counter.TcpExtListenOverflows==0",
		"counter.TcpPassiveOpens==20", "files.usage<=0.5", "listener.fill<=0.8", "process.nofile_soft>=1024") {
		got[r.Requirement] = string(r.Status) + " " + r.Observed.String()
		if !r.Evaluated && !strings.HasPrefix(r.Reason, "listeners could not be read: ") {
			t.Errorf("%s: reason %q", r.Requirement, r.Reason)
		}
	}
	want := map[string]string{
		"net.core.somaxconn >= 4096":         "fail 128",
		"net.ipv4.tcp_syncookies == 1":       "pass 1",
		"counter.TcpExtListenOverflows == 0": "fail 17",
		"counter.TcpPassiveOpens == 20":      "pass 20",
		"files.usage <= 0.5":                 "pass 0.5",
		"listener.fill <= 0.8":               "error ",
		"process.nofile_soft >= 1024":        "error ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A tunable that cannot be read is a per-key error of the observation, taken
// from the snapshot (the tree is read once), and a warning naming it; the
// requirement on it is not evaluated, and the other keys still are.
func TestGatherKeepsPerKeyErrors(t *testing.T) {
	if _, err := inspect.NewDumper(); err != nil {
		t.Skipf("no sock_diag socket here: %v", err)
	}
	sys := t.TempDir()
	if err := os.CopyFS(sys, os.DirFS("testdata/observe/sys")); err != nil {
		t.Fatal(err)
	}
	// A directory where the file should be: reading it fails (EISDIR).
	if err := os.MkdirAll(filepath.Join(sys, "net/ipv4/tcp_max_syn_backlog"), 0o755); err != nil {
		t.Fatal(err)
	}
	obs := observePoint(hostfs.Roots{Proc: "testdata/observe/proc", Sys: sys}, inspect.SelectPorts([]uint16{1}), false, nil)
	if obs.ListenersError != "" {
		t.Fatalf("listeners: %s", obs.ListenersError)
	}
	if len(obs.SysctlErrors) != 1 || obs.SysctlErrors["net.ipv4.tcp_max_syn_backlog"] == "" {
		t.Errorf("sysctl errors = %q, want one for net.ipv4.tcp_max_syn_backlog", obs.SysctlErrors)
	}
	if !slices.ContainsFunc(obs.Warnings, func(w string) bool { return strings.HasPrefix(w, "could not read net.ipv4.tcp_max_syn_backlog: ") }) {
		t.Errorf("warnings = %q, want one naming net.ipv4.tcp_max_syn_backlog", obs.Warnings)
	}
	res := mustEval(t, obs, "tcp_max_syn_backlog>=1", "somaxconn>=4096")
	if r := res["tcp_max_syn_backlog>=1"]; r.Evaluated {
		t.Errorf("tcp_max_syn_backlog>=1 evaluated on an unreadable key: %+v", r)
	}
	if r := res["somaxconn>=4096"]; !r.Evaluated || r.Observed.String() != "128" {
		t.Errorf("somaxconn>=4096: %+v, want 128 observed", r)
	}
}
