package rlimit

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
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
	var rep model.LimitsReport
	var err error
	nstest.Eventually(t, 10*time.Second, "the worker at its limit", func() bool {
		io, _, out, _ := iostreams.Test()
		o := &Options{IO: io, Roots: hostfs.Host(), Output: "json", PIDs: workers, Limits: collect.Limits}
		err = listRun(o)
		rep = model.LimitsReport{}
		if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
			t.Fatalf("%v\n%s", jerr, out)
		}
		return len(rep.Processes) == 1 && rep.Processes[0].Status == model.StatusAtLimit
	})
	var ee *cmdutil.ExitError
	if !errors.As(err, &ee) || ee.Code != cmdutil.ExitFailed {
		t.Errorf("listRun = %v, want exit %d with a process at its limit", err, cmdutil.ExitFailed)
	}
	if p := rep.Processes[0]; p.Nofile.Soft != 64 || *p.OpenFDs < 64 {
		t.Errorf("worker: %d open of soft %d, want at least 64 of 64", *p.OpenFDs, p.Nofile.Soft)
	}
}

// A server under `prlimit --nofile=64:64` that holds every descriptor its
// limit allows is at-limit with exactly 64 in use: a descriptor inherited
// above the limit (here 100) is open but counted apart, in JSON as
// fds_above_limit and in the table as "64+N".
func TestListServerAtPrlimitIsExact(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	srv := nstest.StartAtNofileLimit(t, 64, 100)
	io, _, out, _ := iostreams.Test()
	o := &Options{IO: io, Roots: hostfs.Host(), Output: "json", PIDs: []int{srv.PID()}, Limits: collect.Limits}
	err := listRun(o)
	var rep model.LimitsReport
	if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
		t.Fatalf("%v\n%s", jerr, out)
	}
	var ee *cmdutil.ExitError
	if !errors.As(err, &ee) || ee.Code != cmdutil.ExitFailed {
		t.Errorf("listRun = %v, want exit %d at the limit", err, cmdutil.ExitFailed)
	}
	if len(rep.Processes) != 1 {
		t.Fatalf("processes = %+v, want the server", rep.Processes)
	}
	p := rep.Processes[0]
	if p.OpenFDs == nil || *p.OpenFDs-p.FDsAboveLimit != 64 || p.FDsAboveLimit < 1 || p.Status != model.StatusAtLimit || p.Usage == nil || *p.Usage != 1 {
		t.Errorf("server: %+v, want 64 in use of 64 (plus descriptor 100 above it), at-limit, usage 1", p)
	}

	io, _, out, _ = iostreams.Test()
	o.IO, o.Output = io, "table"
	_ = listRun(o)
	if want := "64+" + strconv.Itoa(p.FDsAboveLimit); !strings.Contains(out.String(), want) {
		t.Errorf("table does not show %q:\n%s", want, out)
	}
}
