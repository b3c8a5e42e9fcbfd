package rlimit

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/rlimit"
)

// nginx whose worker is held at 64 descriptors (worker_rlimit_nofile 64)
// and given 200 clients is at its limit: rlimit says at-limit for the worker
// and exits 1, like a failed check.
func TestListNginxAtLimitExitsOne(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	srv := nstest.StartNginx(t, nstest.NginxOpts{Extra: "worker_rlimit_nofile 64;"})
	_, workers := nstest.NginxPIDs(t, srv)
	nstest.OpenRequests(t, srv.Addr, 200)
	var rep rlimit.Report
	var err error
	nstest.Eventually(t, 10*time.Second, "the worker at its limit", func() bool {
		io, _, out, _ := iostreams.Test()
		o := &Options{IO: io, ProcRoot: "/proc", SysRoot: "/proc/sys", Output: "json", PIDs: workers, Listeners: dumpListeners}
		err = listRun(o)
		rep = rlimit.Report{}
		if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
			t.Fatalf("%v\n%s", jerr, out)
		}
		return len(rep.Processes) == 1 && rep.Processes[0].Status == rlimit.StatusAtLimit
	})
	var ee *cmdutil.ExitError
	if !errors.As(err, &ee) || ee.Code != cmdutil.ExitFailed {
		t.Errorf("listRun = %v, want exit %d with a process at its limit", err, cmdutil.ExitFailed)
	}
	if p := rep.Processes[0]; p.Nofile.Soft != 64 || *p.OpenFDs < 64 {
		t.Errorf("worker: %d open of soft %d, want at least 64 of 64", *p.OpenFDs, p.Nofile.Soft)
	}
}
