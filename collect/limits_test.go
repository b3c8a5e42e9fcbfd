package collect

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/model"
)

// Fixture pids are above PID_MAX_LIMIT (4194304), so no real process has them.
const (
	nginxPID  = 4194305
	workerPID = 4194306
)

// fakeListeners returns two listeners owned by the nginx fixture (one of them
// twice, IPv4 and IPv6 on the same port) and records whether owners were asked for.
func fakeListeners(owners *bool) listenersFunc {
	return func(_ Options, withOwners bool) ([]model.Listener, []string, []string, error) {
		*owners = withOwners
		nginx := []model.Process{{PID: nginxPID}}
		return []model.Listener{
			{Port: 443, Inode: 4001, Processes: nginx},
			{Port: 80, Inode: 4002, Processes: nginx},
			{Port: 80, Inode: 4003, Processes: []model.Process{{PID: 4194399}}}, // exited since
		}, nil, []string{"could not read the descriptors of 2 processes"}, nil
	}
}

// fixtureRoots are a /proc with the nginx and worker fixtures.
var fixtureRoots = Options{Roots: hostfs.Roots{Proc: "testdata/rlimit/proc", Sys: "testdata/rlimit/sys"}}

// Without --pid, every listener's owner, once, with the ports it holds; an
// owner that exited since the dump is left out.
func TestLimitsOwners(t *testing.T) {
	var owners bool
	rep, err := limits(fixtureRoots, nil, fakeListeners(&owners))
	if err != nil {
		t.Fatal(err)
	}
	if !owners {
		t.Error("without --pid the listeners' owners must be looked up")
	}
	open := 4
	usage := 4.0 / 1024
	want := []model.ProcessLimits{{PID: nginxPID, Comm: "nginx", Unit: "nginx.service", Ports: []uint16{80, 443},
		Nofile: model.Nofile{Soft: 1024, Hard: 4096}, OpenFDs: &open, Usage: &usage, Status: model.StatusOK}}
	if diff := cmp.Diff(want, rep.Processes, cmpopts.IgnoreFields(model.ProcessLimits{}, "SocketInodes")); diff != "" {
		t.Errorf("processes (-want +got):\n%s", diff)
	}
	if !slices.Contains(rep.Warnings, "could not read the descriptors of 2 processes") {
		t.Errorf("warnings = %q, want the listing's", rep.Warnings)
	}
}

func TestLimitsPIDsJSON(t *testing.T) {
	var owners bool
	rep, err := limits(fixtureRoots, []int{workerPID, nginxPID, workerPID}, fakeListeners(&owners))
	if err != nil {
		t.Fatal(err)
	}
	if owners {
		t.Error("with --pid the /proc/*/fd owner scan is not needed")
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
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

func TestLimitsListenerDumpFails(t *testing.T) {
	failing := func(Options, bool) ([]model.Listener, []string, []string, error) {
		return nil, nil, nil, errors.New("netlink: permission denied")
	}
	// Without --pid there is nothing to show.
	_, err := limits(fixtureRoots, nil, failing)
	var lerr *ListenersError
	if !errors.As(err, &lerr) || !strings.Contains(err.Error(), "netlink: permission denied") {
		t.Errorf("owners mode: err = %v, want a ListenersError naming the cause", err)
	}
	// With --pid the limits are still worth showing; ports are not.
	rep, err := limits(fixtureRoots, []int{nginxPID}, failing)
	if err != nil {
		t.Fatalf("--pid mode: %v", err)
	}
	if len(rep.Processes) != 1 || rep.Processes[0].PID != nginxPID || len(rep.Processes[0].Ports) != 0 {
		t.Errorf("processes = %+v, want nginx without ports", rep.Processes)
	}
	if !slices.ContainsFunc(rep.Warnings, func(w string) bool { return strings.Contains(w, "ports not shown") }) {
		t.Errorf("warnings = %q, want one saying ports are not shown", rep.Warnings)
	}
}

// With namespaces named, a process has a row per namespace it listens in,
// labelled, with that namespace's ports: equal ports in two namespaces are
// told apart (the rows carried no namespace once).
func TestLimitsPerNamespace(t *testing.T) {
	list := func(Options, bool) ([]model.Listener, []string, []string, error) {
		nginx := []model.Process{{PID: nginxPID}}
		return []model.Listener{
			{Port: 80, Inode: 4001, Processes: nginx},
			{Port: 80, Inode: 4002, Processes: nginx},
			{Port: 443, Inode: 4003},
		}, []string{"blue", "red", "red"}, nil, nil
	}
	rep, err := limits(fixtureRoots, nil, list)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range rep.Processes {
		got = append(got, fmt.Sprintf("%s %d %v", p.Netns, p.PID, p.Ports))
	}
	if diff := cmp.Diff([]string{"blue 4194305 [80]", "red 4194305 [80]"}, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	b, _ := json.Marshal(rep.Processes[0])
	if !strings.HasPrefix(string(b), `{"netns":"blue","pid":4194305,`) {
		t.Errorf("JSON row %s, want its netns first", b)
	}
}
