package rlimit

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/rlimit"
)

// Fixture pids are above PID_MAX_LIMIT (4194304), so no real process has them.
const (
	nginxPID  = 4194305
	workerPID = 4194306
)

// fakeListeners returns two listeners owned by the nginx fixture (one of them
// twice, IPv4 and IPv6 on the same port) and records whether owners were asked for.
func fakeListeners(owners *bool) func(inspect.Options) ([]inspect.Listener, []string, error) {
	return func(o inspect.Options) ([]inspect.Listener, []string, error) {
		*owners = o.Processes
		nginx := []inspect.Process{{PID: nginxPID}}
		return []inspect.Listener{
			{Port: 443, Inode: 4001, Processes: nginx},
			{Port: 80, Inode: 4002, Processes: nginx},
			{Port: 80, Inode: 4003, Processes: []inspect.Process{{PID: 4194399}}}, // exited since
		}, []string{"could not read the descriptors of 2 processes"}, nil
	}
}

func listOpts() (*Options, *bytes.Buffer, *bytes.Buffer) {
	io, _, out, errOut := iostreams.Test()
	return &Options{IO: io, Roots: hostfs.Roots{Proc: "testdata/proc", Sys: "testdata/sys"}, Output: "table"}, out, errOut
}

func TestListOwnersTable(t *testing.T) {
	o, out, errOut := listOpts()
	var owners bool
	o.Listeners = fakeListeners(&owners)
	if err := listRun(o); err != nil {
		t.Fatal(err)
	}
	if !owners {
		t.Error("without --pid the listeners' owners must be looked up")
	}
	want := "PID\tCOMM\tUNIT\tPORTS\tOPEN\tSOFT\tHARD\tUSAGE\tNR-OPEN\tSTATUS\n" +
		"4194305\tnginx\tnginx.service\t80,443\t4\t1024\t4096\t0.00\t1048576\tok\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	if !strings.Contains(errOut.String(), "warning: could not read the descriptors of 2 processes") {
		t.Errorf("stderr = %q, want the gather warning", errOut.String())
	}
}

func TestListPIDsJSON(t *testing.T) {
	o, out, _ := listOpts()
	var owners bool
	o.Listeners = fakeListeners(&owners)
	o.PIDs = []int{workerPID, nginxPID, workerPID}
	o.Output = "json"
	if err := listRun(o); err != nil {
		t.Fatal(err)
	}
	if owners {
		t.Error("with --pid the /proc/*/fd owner scan is not needed")
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out.String()), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	want := map[string]any{
		"nr_open": 1048576.0,
		"processes": []any{
			map[string]any{"pid": 4194305.0, "comm": "nginx", "unit": "nginx.service", "ports": []any{80.0, 443.0},
				"nofile": map[string]any{"soft": 1024.0, "hard": 4096.0}, "open_fds": 4.0, "usage": 4.0 / 1024, "status": "ok"},
			map[string]any{"pid": 4194306.0, "comm": "worker", "unit": "", "ports": []any{},
				"nofile": map[string]any{"soft": 1024.0, "hard": 4096.0}, "open_fds": nil, "usage": nil, "status": "unknown"},
		},
		"warnings": []any{"could not read the descriptors of 2 processes",
			"could not count the open descriptors of pid 4194306 (/proc/PID/fd needs root or the same user)"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
}

func TestListListenerDumpFails(t *testing.T) {
	failing := func(inspect.Options) ([]inspect.Listener, []string, error) {
		return nil, nil, errors.New("netlink: permission denied")
	}
	// Without --pid there is nothing to show: exit 3.
	o, _, _ := listOpts()
	o.Listeners = failing
	err := listRun(o)
	if cmdutil.ExitCode(err) != cmdutil.ExitEnv || !strings.Contains(err.Error(), "netlink: permission denied") {
		t.Errorf("owners mode: err = %v (exit %d), want exit 3 naming the cause", err, cmdutil.ExitCode(err))
	}
	// With --pid the limits are still worth showing; ports are not.
	o, out, errOut := listOpts()
	o.Listeners = failing
	o.PIDs = []int{nginxPID}
	if err := listRun(o); err != nil {
		t.Fatalf("--pid mode: %v", err)
	}
	if !strings.Contains(out.String(), "4194305\tnginx\tnginx.service\t-\t4\t1024") {
		t.Errorf("table = %q, want the process without ports", out)
	}
	if !strings.Contains(errOut.String(), "ports not shown") {
		t.Errorf("stderr = %q, want a warning that ports are not shown", errOut)
	}
}

func TestListNoOwners(t *testing.T) {
	o, out, _ := listOpts()
	o.Listeners = func(inspect.Options) ([]inspect.Listener, []string, error) { return nil, nil, nil }
	if err := listRun(o); err != nil {
		t.Fatal(err)
	}
	if out.String() != "no process owns a listening TCP socket here (other network namespaces: --all-netns)\n" {
		t.Errorf("out = %q", out)
	}
	o.Output = "json"
	out.Reset()
	if err := listRun(o); err != nil {
		t.Fatal(err)
	}
	var rep rlimit.Report
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil || rep.Processes == nil || len(rep.Processes) != 0 {
		t.Errorf("JSON = %s (%v), want an empty processes array", out, err)
	}
}
