package rlimit

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/model"
)

// Fixture pids are above PID_MAX_LIMIT (4194304), so no real process has them.
const (
	nginxPID  = 4194305
	workerPID = 4194306
)

// report is what collect.Limits gives for the nginx and worker fixtures.
func report() *model.LimitsReport {
	open, usage := 4, 4.0/1024
	nr := int64(1048576)
	return &model.LimitsReport{NrOpen: &nr, Processes: []model.ProcessLimits{
		{PID: nginxPID, Comm: "nginx", Unit: "nginx.service", Ports: []uint16{80, 443}, Nofile: model.Nofile{Soft: 1024, Hard: 4096},
			OpenFDs: &open, Usage: &usage, Status: model.StatusOK},
		{PID: workerPID, Comm: "worker", Ports: []uint16{}, Nofile: model.Nofile{Soft: 1024, Hard: 4096}, Status: model.StatusUnknown},
	}, Warnings: []string{"could not read the descriptors of 2 processes"}}
}

func listOpts(rep *model.LimitsReport) (*Options, *bytes.Buffer, *bytes.Buffer) {
	io, _, out, errOut := iostreams.Test()
	return &Options{IO: io, Output: "table", Limits: func(collect.Options, []int) (*model.LimitsReport, error) { return rep, nil }}, out, errOut
}

func TestListTable(t *testing.T) {
	o, out, errOut := listOpts(report())
	if err := listRun(o); err != nil {
		t.Fatal(err)
	}
	want := "PID\tCOMM\tUNIT\tPORTS\tOPEN\tSOFT\tHARD\tUSAGE\tNR-OPEN\tSTATUS\n" +
		"4194305\tnginx\tnginx.service\t80,443\t4\t1024\t4096\t0.00\t1048576\tok\n" +
		"4194306\tworker\t-\t-\t-\t1024\t4096\t-\t1048576\tunknown\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	if !strings.Contains(errOut.String(), "warning: could not read the descriptors of 2 processes") {
		t.Errorf("stderr = %q, want the warning", errOut.String())
	}
}

// A process in a Kubernetes pod has its pod in a POD column (there, not in
// a unit, is where its limit comes from); JSON has the pod's fields.
func TestListPodColumn(t *testing.T) {
	rep := report()
	open, usage := 512, 0.5
	rep.Processes = append(rep.Processes, model.ProcessLimits{PID: 4194307, Comm: "gunicorn", Ports: []uint16{8000},
		Nofile: model.Nofile{Soft: 1024, Hard: 1048576}, OpenFDs: &open, Usage: &usage, Status: model.StatusOK,
		Workload: model.Workload{Pod: "web-7d4b9c8f6-x2k9p", Namespace: "shop", Container: "app", ContainerID: "a1b2", PodUID: "0f9a"}})
	o, out, _ := listOpts(rep)
	if err := listRun(o); err != nil {
		t.Fatal(err)
	}
	want := "PID\tCOMM\tUNIT\tPOD\tPORTS\tOPEN\tSOFT\tHARD\tUSAGE\tNR-OPEN\tSTATUS\n" +
		"4194305\tnginx\tnginx.service\t-\t80,443\t4\t1024\t4096\t0.00\t1048576\tok\n" +
		"4194306\tworker\t-\t-\t-\t-\t1024\t4096\t-\t1048576\tunknown\n" +
		"4194307\tgunicorn\t-\tshop/web-7d4b9c8f6-x2k9p/app\t8000\t512\t1024\t1048576\t0.50\t1048576\tok\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	o, out, _ = listOpts(rep)
	o.Output = "json"
	if err := listRun(o); err != nil {
		t.Fatal(err)
	}
	var got struct{ Processes []map[string]any }
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	p := got.Processes[2]
	if p["pod"] != "web-7d4b9c8f6-x2k9p" || p["namespace"] != "shop" || p["container"] != "app" || p["container_id"] != "a1b2" || p["pod_uid"] != "0f9a" {
		t.Errorf("JSON process %v, want its pod's fields", p)
	}
	if _, ok := got.Processes[0]["pod"]; ok {
		t.Errorf("a process in no pod has a pod field: %v", got.Processes[0])
	}
}

// With --netns or --all-netns the table has a NETNS column first: equal
// ports in two namespaces are told apart.
func TestListNamespaceColumn(t *testing.T) {
	rep := report()
	rep.Processes = []model.ProcessLimits{rep.Processes[0], rep.Processes[0]}
	rep.Processes[0].Netns, rep.Processes[1].Netns = "blue", "red"
	o, out, _ := listOpts(rep)
	o.Namespaces.All = true
	if err := listRun(o); err != nil {
		t.Fatal(err)
	}
	want := "NETNS\tPID\tCOMM\tUNIT\tPORTS\tOPEN\tSOFT\tHARD\tUSAGE\tNR-OPEN\tSTATUS\n" +
		"blue\t4194305\tnginx\tnginx.service\t80,443\t4\t1024\t4096\t0.00\t1048576\tok\n" +
		"red\t4194305\tnginx\tnginx.service\t80,443\t4\t1024\t4096\t0.00\t1048576\tok\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}

// A failure to list the listeners whose owners are wanted is exit 3.
func TestListListenersFail(t *testing.T) {
	o, _, _ := listOpts(nil)
	o.Limits = func(collect.Options, []int) (*model.LimitsReport, error) {
		return nil, &collect.ListenersError{Err: errors.New("netlink: permission denied")}
	}
	if err := listRun(o); cmdutil.ExitCode(err) != cmdutil.ExitEnv || !strings.Contains(err.Error(), "netlink: permission denied") {
		t.Errorf("err = %v (exit %d), want exit 3 naming the cause", err, cmdutil.ExitCode(err))
	}
}

func TestListNoOwners(t *testing.T) {
	o, out, _ := listOpts(&model.LimitsReport{Processes: []model.ProcessLimits{}})
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
	var rep model.LimitsReport
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil || rep.Processes == nil || len(rep.Processes) != 0 {
		t.Errorf("JSON = %s (%v), want an empty processes array", out, err)
	}
}
