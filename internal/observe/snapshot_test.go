package observe

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/rlimit"
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
	obs := Gather(Source{ProcRoot: "testdata/proc", SysRoot: "testdata/sys", Dumper: d})
	if obs.ListenersError == "" {
		t.Fatalf("dump on a closed socket succeeded: %+v", obs)
	}
	if diff := cmp.Diff(&rlimit.Files{Allocated: 2048, Max: 4096, NrOpen: 1048576}, obs.Files); diff != "" {
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
