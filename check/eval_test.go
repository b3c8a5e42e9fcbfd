package check

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/model"

	"github.com/google/go-cmp/cmp"
)

func u32(v uint32) *uint32 { return &v }

// fixture is a fixed observation: two listeners, one full and dropping, and
// their owners.
func fixture() *model.Observation {
	nginx := model.Process{PID: 4242, Comm: "nginx", OpenFDs: 800, NofileSoft: 1024, NofileHard: 524288}
	app := model.Process{PID: 5151, Comm: "app", OpenFDs: 10, NofileSoft: 65536, NofileHard: 65536}
	return &model.Observation{
		Sysctls: map[string]int64{
			"net.core.somaxconn": 4096, "net.ipv4.tcp_syncookies": 1,
			"net.ipv4.tcp_abort_on_overflow": 0, "fs.file-max": 1000,
		},
		SysctlErrors: map[string]string{"fs.nr_open": "permission denied"},
		Counters:     map[string]uint64{"TcpExtListenOverflows": 42, "TcpExtListenDrops": 42},
		Files:        &model.Files{Allocated: 400, Max: 1000, NrOpen: 1048576},
		Listeners: []model.ListenerObservation{
			{Endpoint: "0.0.0.0:80", Inode: 1, AcceptQueue: 512, AcceptQueueMax: 511, Fill: 1, SynQueue: 30,
				Drops: u32(7), Processes: []model.Process{nginx}},
			{Endpoint: "127.0.0.1:8080", Inode: 2, AcceptQueue: 4, AcceptQueueMax: 4095, Fill: 4.0 / 4096, SynQueue: 0,
				Drops: u32(0), Processes: []model.Process{app, nginx}},
		},
		ProcessesScanned: true,
	}
}

type verdict struct {
	Status   Status
	Observed string
	Where    string
	Failing  []string
}

func evalOne(t *testing.T, expr string, obs *model.Observation, missing Missing) Result {
	t.Helper()
	e, err := ParseExpr(expr)
	if err != nil {
		t.Fatal(err)
	}
	res := Evaluate([]Requirement{{Expr: e, Source: "--require"}}, obs, EvalOptions{Missing: missing})
	return res[0]
}

// Every subject kind and every operator, on the fixed observation.
func TestEvaluate(t *testing.T) {
	tests := []struct {
		expr string
		want verdict
	}{
		// sysctls, every operator
		{"somaxconn>=4096", verdict{StatusPass, "4096", "", nil}},
		{"somaxconn>4096", verdict{StatusFail, "4096", "", nil}},
		{"somaxconn<=4095", verdict{StatusFail, "4096", "", nil}},
		{"somaxconn<8192", verdict{StatusPass, "4096", "", nil}},
		{"tcp_syncookies==1", verdict{StatusPass, "1", "", nil}},
		{"tcp_syncookies!=1", verdict{StatusFail, "1", "", nil}},
		{"net.ipv4.tcp_abort_on_overflow==0", verdict{StatusPass, "0", "", nil}},
		// listeners: every listener must hold; the worst decides
		{"listener.accept_queue_max>=1024", verdict{StatusFail, "511", "0.0.0.0:80", []string{"0.0.0.0:80=511"}}},
		{"listener.accept_queue_max>=511", verdict{StatusPass, "511", "0.0.0.0:80", nil}},
		{"listener.accept_queue<=4", verdict{StatusFail, "512", "0.0.0.0:80", []string{"0.0.0.0:80=512"}}},
		{"listener.fill<=0.8", verdict{StatusFail, "1", "0.0.0.0:80", []string{"0.0.0.0:80=1"}}},
		{"listener.fill<1.01", verdict{StatusPass, "1", "0.0.0.0:80", nil}},
		{"listener.drops==0", verdict{StatusFail, "7", "0.0.0.0:80", []string{"0.0.0.0:80=7"}}},
		{"listener.drops!=0", verdict{StatusFail, "0", "127.0.0.1:8080", []string{"127.0.0.1:8080=0"}}},
		{"listener.syn_queue<=100", verdict{StatusPass, "30", "0.0.0.0:80", nil}},
		{"listener.syn_queue>0", verdict{StatusFail, "0", "127.0.0.1:8080", []string{"127.0.0.1:8080=0"}}},
		// processes: each owner once
		{"process.nofile_soft>=65536", verdict{StatusFail, "1024", "nginx[4242]", []string{"nginx[4242]=1024"}}},
		{"process.nofile_hard>=65536", verdict{StatusPass, "65536", "app[5151]", nil}},
		{"process.fd_usage<=0.8", verdict{StatusPass, "0.78125", "nginx[4242]", nil}},
		{"process.fd_usage<0.5", verdict{StatusFail, "0.78125", "nginx[4242]", []string{"nginx[4242]=0.78125"}}},
		{"process.open_fds<100", verdict{StatusFail, "800", "nginx[4242]", []string{"nginx[4242]=800"}}},
		// files
		{"files.usage<=0.4", verdict{StatusPass, "0.4", "", nil}},
		{"files.usage<0.4", verdict{StatusFail, "0.4", "", nil}},
		{"files.allocated<=400", verdict{StatusPass, "400", "", nil}},
		{"files.max>=2097152", verdict{StatusFail, "1000", "", nil}},
		{"files.nr_open==1048576", verdict{StatusPass, "1048576", "", nil}},
		// counters
		{"counter.TcpExtListenOverflows==0", verdict{StatusFail, "42", "", nil}},
		{"counter.TcpExtListenDrops>=42", verdict{StatusPass, "42", "", nil}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			r := evalOne(t, tt.expr, fixture(), MissingError)
			got := verdict{r.Status, r.Observed.String(), r.Where, r.Failing}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if !r.Evaluated {
				t.Errorf("Evaluated = false")
			}
			if (r.Status == StatusFail) != (r.Reason != "") {
				t.Errorf("reason %q: want one exactly for a failure", r.Reason)
			}
		})
	}
}

// A fill of exactly 4/5 equals a written 0.8: values compare by their
// decimal form, not the float's binary excess.
func TestEvaluateExactDecimal(t *testing.T) {
	obs := fixture()
	obs.Listeners = obs.Listeners[1:]
	obs.Listeners[0].Fill = 4.0 / 5.0
	for _, expr := range []string{"listener.fill<=0.8", "listener.fill>=0.8", "listener.fill==0.8"} {
		if r := evalOne(t, expr, obs, MissingError); r.Status != StatusPass {
			t.Errorf("%s: status %s (observed %s), want pass", expr, r.Status, r.Observed)
		}
	}
	obs.Sysctls["fs.file-max"] = 9223372036854775807
	if r := evalOne(t, "fs.file-max==9223372036854775807", obs, MissingError); r.Status != StatusPass {
		t.Errorf("LONG_MAX compared inexactly: %+v", r)
	}
	if r := evalOne(t, "fs.file-max<9223372036854775807", obs, MissingError); r.Status != StatusFail {
		t.Errorf("LONG_MAX compared inexactly: %+v", r)
	}
}

// What cannot be evaluated is an error, or what --missing says, with why.
func TestEvaluateNotEvaluated(t *testing.T) {
	noListeners := fixture()
	noListeners.Listeners = nil
	noListeners.Ports = []uint16{9999}
	hidden := fixture()
	for i := range hidden.Listeners {
		hidden.Listeners[i].Processes = nil
	}
	oldKernel := fixture()
	for i := range oldKernel.Listeners {
		oldKernel.Listeners[i].Drops = nil
	}
	broken := fixture()
	broken.ListenersError = "sock_diag: operation not permitted"
	noFiles := fixture()
	noFiles.Files = nil
	tests := []struct {
		name, expr string
		obs        *model.Observation
		reason     string
	}{
		{"absent sysctl", "netdev_max_backlog>=1000", fixture(), "net.core.netdev_max_backlog is not visible here"},
		{"unreadable sysctl", "nr_open>=1", fixture(), "could not read fs.nr_open: permission denied"},
		{"absent counter", "counter.TcpExtNoSuch==0", fixture(), "counter TcpExtNoSuch is not reported here"},
		{"no listener matched", "listener.fill<=0.8", noListeners, "no listener matched (port 9999)"},
		{"no listener for processes", "process.nofile_soft>=1", noListeners, "no listener matched (port 9999)"},
		{"owners hidden", "process.nofile_soft>=1", hidden, "no owning process visible"},
		{"drops unsupported", "listener.drops==0", oldKernel, "needs 4.7"},
		{"dump failed", "listener.fill<=1", broken, "listeners could not be read: sock_diag"},
		{"no file-nr", "files.usage<=0.5", noFiles, "fs.file-nr is not visible here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, m := range []struct {
				missing Missing
				status  Status
			}{{MissingError, StatusError}, {MissingPass, StatusPass}, {MissingFail, StatusFail}} {
				r := evalOne(t, tt.expr, tt.obs, m.missing)
				if r.Status != m.status || r.Evaluated || r.Observed != "" {
					t.Errorf("--missing=%s: status %s evaluated %v observed %q, want %s, not evaluated", m.missing, r.Status, r.Evaluated, r.Observed, m.status)
				}
				if !strings.Contains(r.Reason, tt.reason) {
					t.Errorf("--missing=%s: reason %q, want it to contain %q", m.missing, r.Reason, tt.reason)
				}
			}
		})
	}
}

// In a window, counters and queues are marked as judged over it, and the
// reason says so; accept_queue_max and sysctls are not.
func TestEvaluateWindowed(t *testing.T) {
	obs := fixture()
	obs.Window = &model.WindowInfo{Duration: 60 * time.Second, Interval: 100 * time.Millisecond, Samples: 600}
	r := evalOne(t, "counter.TcpExtListenOverflows==0", obs, MissingError)
	if !r.Windowed || !strings.HasPrefix(r.Reason, "during the 1m0s window: ") {
		t.Errorf("counter in a window: windowed %v reason %q", r.Windowed, r.Reason)
	}
	for _, expr := range []string{"listener.accept_queue_max>=1024", "somaxconn>=8192"} {
		if r := evalOne(t, expr, obs, MissingError); r.Windowed {
			t.Errorf("%s: windowed, want a value read at the end", expr)
		}
	}
}

// Result's JSON carries the observed value as a number.
func TestResultJSON(t *testing.T) {
	r := evalOne(t, "listener.fill<=0.8", fixture(), MissingError)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"observed":1,`) || !strings.Contains(string(b), `"status":"fail"`) {
		t.Errorf("JSON %s: want observed as a number and status fail", b)
	}
}

func TestProfileRequirements(t *testing.T) {
	p := adviseProfile()
	var got []string
	for _, r := range ProfileRequirements(p) {
		got = append(got, r.Expr.String()+" ["+r.Source+"]")
	}
	want := []string{
		"net.core.somaxconn >= 4096 [profile default]",
		"net.ipv4.tcp_abort_on_overflow == 0 [profile default]",
		"net.ipv4.tcp_syncookies == 1 [profile default]",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A reason found for the failing listener or process wins over the kernel
// fact; without one the kernel fact stays.
func TestLookupReasons(t *testing.T) {
	var asked []string
	reasons := LookupReasons{Lookup: func(target string) (string, bool) {
		asked = append(asked, target)
		if target == "pid:4242" {
			return "nginx[4242] is at its RLIMIT_NOFILE", true
		}
		return "", false
	}}
	var reqs []Requirement
	for _, s := range []string{"process.nofile_soft>=65536", "listener.fill<=0.8", "somaxconn>=8192", "counter.TcpExtListenOverflows==0", "files.usage<0.1"} {
		e, err := ParseExpr(s)
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, Requirement{Expr: e})
	}
	res := Evaluate(reqs, fixture(), EvalOptions{Reasons: reasons})
	if res[0].Reason != "nginx[4242] is at its RLIMIT_NOFILE" {
		t.Errorf("process reason = %q, want the looked-up one", res[0].Reason)
	}
	if !strings.Contains(res[1].Reason, "sk_acceptq_is_full") {
		t.Errorf("listener reason = %q, want the kernel fact", res[1].Reason)
	}
	want := []string{"pid:4242", "0.0.0.0:80", "net.core.somaxconn", "TcpExtListenOverflows", "fs.file-max"}
	if diff := cmp.Diff(want, asked); diff != "" {
		t.Errorf("targets looked up (-want +got):\n%s", diff)
	}
}
