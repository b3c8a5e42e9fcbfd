package check

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/backlogctl/backlogctl/check"
	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/model"
)

// fixedObservation: somaxconn 4096, one listener on :80 dropping, 3 overflows.
func fixedObservation(src collect.Options) *model.Observation {
	drops := uint32(3)
	obs := &model.Observation{
		Sysctls:  map[string]int64{"net.core.somaxconn": 4096, "net.ipv4.tcp_syncookies": 1, "net.ipv4.tcp_abort_on_overflow": 0},
		Counters: map[string]uint64{"TcpExtListenOverflows": 3},
		Files:    &model.Files{Allocated: 100, Max: 1000, NrOpen: 1048576},
		Ports:    src.Ports,
		Listeners: []model.ListenerObservation{{Endpoint: "0.0.0.0:80", Inode: 7, AcceptQueue: 2, AcceptQueueMax: 511,
			Fill: 2.0 / 512, Drops: &drops,
			Processes: []model.Process{{PID: 42, Comm: "nginx", OpenFDs: 10, NofileSoft: 1024, NofileHard: 4096}}}},
		ProcessesScanned: src.Owners != collect.OwnersOff,
	}
	if len(src.Ports) > 0 && src.Ports[0] != 80 {
		obs.Listeners = nil
	}
	return obs
}

type run struct {
	code           int
	stdout, stderr string
	opts           *Options
}

// runCheck runs `check ARGS` with the fixed observation (or the given
// watcher for --observe), through cobra, Complete and checkRun.
func runCheck(t *testing.T, watch func(context.Context, collect.Options, collect.ObserveOptions) (*model.Observation, error), args ...string) run {
	t.Helper()
	ios, _, stdout, stderr := iostreams.Test()
	f := &cmdutil.Factory{IOStreams: ios, Roots: hostfs.Roots{Proc: "/nonexistent", Sys: "/nonexistent"}}
	var got *Options
	cmd := NewCmdCheck(f, func(o *Options) error {
		got = o
		o.Collect = func(ctx context.Context, co collect.Options, wo collect.ObserveOptions) ([]collect.Observed, []string, error) {
			if wo.Window == 0 {
				return []collect.Observed{{Observation: fixedObservation(co)}}, nil, nil
			}
			obs, err := watch(ctx, co, wo)
			if err != nil {
				return nil, nil, err
			}
			return []collect.Observed{{Observation: obs}}, nil, nil
		}
		return checkRun(context.Background(), o)
	})
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	return run{cmdutil.ExitCode(err), stdout.String(), stderr.String(), got}
}

func writePolicy(t *testing.T, doc string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckExitCodes(t *testing.T) {
	badPolicy := writePolicy(t, "require:\n  - somaxconn>=1\nobserv: 1s\n")
	emptyPolicy := writePolicy(t, "")
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"all hold", []string{"--require", "somaxconn>=4096", "--require", "listener.fill <= 0.8"}, 0},
		{"profile holds", []string{"--profile", "default"}, 0},
		{"one fails", []string{"--require", "somaxconn>=4096", "--require", "counter.TcpExtListenOverflows==0"}, 1},
		{"profile fails", []string{"--profile", "high-concurrency", "--missing", "pass"}, 1},
		{"fail outranks not evaluated", []string{"--require", "listener.drops==0", "--require", "netdev_max_backlog>=1"}, 1},
		{"no listener matched", []string{"--port", "443", "--require", "listener.fill<=0.8"}, 3},
		{"no listener matched, missing=pass", []string{"--port", "443", "--require", "listener.fill<=0.8", "--missing", "pass"}, 0},
		{"no listener matched, missing=fail", []string{"--port", "443", "--require", "listener.fill<=0.8", "--missing=fail"}, 1},
		{"absent key", []string{"--require", "netdev_max_backlog>=1000"}, 3},
		{"absent counter", []string{"--require", "counter.TcpExtNoSuchThing==0"}, 3},
		{"bad expression", []string{"--require", "somaxconn=4096"}, 2},
		{"unknown subject", []string{"--require", "backlog>=1"}, 2},
		{"nothing to check", nil, 2},
		{"unknown profile", []string{"--profile", "turbo"}, 2},
		{"bad --missing", []string{"--require", "somaxconn>=1", "--missing", "ignore"}, 2},
		{"bad --output", []string{"--require", "somaxconn>=1", "-o", "xml"}, 2},
		{"bad --port", []string{"--require", "somaxconn>=1", "--port", "0"}, 2},
		{"bad --sample-interval", []string{"--require", "somaxconn>=1", "--sample-interval", "0s"}, 2},
		{"bad policy", []string{"--policy", badPolicy}, 2},
		{"empty policy", []string{"--policy", emptyPolicy}, 2},
		{"missing policy file", []string{"--policy", filepath.Join(t.TempDir(), "none.yaml")}, 2},
		{"endless policy file", []string{"--policy", "/dev/zero"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCheck(t, nil, tt.args...)
			if r.code != tt.want {
				t.Errorf("exit %d, want %d\nstdout:\n%s", r.code, tt.want, r.stdout)
			}
		})
	}
}

func TestCheckText(t *testing.T) {
	r := runCheck(t, nil, "--require", "somaxconn>=4096", "--require", "listener.drops==0", "--port", "80",
		"--require", "process.nofile_soft >= 65536", "--require", "netdev_max_backlog>=1")
	want := []string{
		"STATUS\tSUBJECT\tOBSERVED\tEXPECTED\tREASON",
		"PASS\tnet.core.somaxconn\t4096\t>= 4096\t",
		"FAIL\tlistener.drops\t3 (0.0.0.0:80)\t== 0\tthe listener's own sk_drops is not an overflow count: it rises on accept-queue overflows (an overflowed final ACK counts 2, tcp_check_req), on SYNs dropped at a full SYN queue with syncookies off, on SYNs dropped by the 3/4 rule of tcp_max_syn_backlog, and on bare ACKs a TCP_DEFER_ACCEPT listener drops (TcpExtTCPDeferAcceptDrop); compare TcpExtListenOverflows, TcpExtTCPReqQFullDrop and TcpExtTCPDeferAcceptDrop over the same window to tell which (backlogctl advise --interval does)",
		"FAIL\tprocess.nofile_soft\t1024 (nginx[42])\t>= 65536\taccept() fails with EMFILE at the soft RLIMIT_NOFILE and leaves the connection in the accept queue (the descriptor is reserved first, __sys_accept4), so the queue fills and overflows",
		"ERROR\tnet.core.netdev_max_backlog\t-\t>= 1\tnet.core.netdev_max_backlog is not visible here (absent in this kernel, or a global key inside a child network namespace)",
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	if !needsProcesses(r.opts.requirements) {
		t.Errorf("a process.* requirement must turn on the owner scan")
	}
}

func TestCheckQuiet(t *testing.T) {
	for _, args := range [][]string{
		{"-q", "--require", "counter.TcpExtListenOverflows==0"},
		{"-q", "--require", "somaxconn>=1", "-o", "json"},
	} {
		r := runCheck(t, nil, args...)
		if r.stdout != "" || r.stderr != "" {
			t.Errorf("%v printed %q / %q, want nothing", args, r.stdout, r.stderr)
		}
	}
	if r := runCheck(t, nil, "-q", "--require", "counter.TcpExtListenOverflows==0"); r.code != 1 {
		t.Errorf("-q exit %d, want 1", r.code)
	}
}

func TestCheckJSON(t *testing.T) {
	r := runCheck(t, nil, "-o", "json", "--require", "somaxconn>=4096", "--require", "listener.fill<=0.001")
	var got struct {
		Status   string `json:"status"`
		ExitCode int    `json:"exit_code"`
		Summary  Summary
		Results  []struct {
			Requirement string  `json:"requirement"`
			Status      string  `json:"status"`
			Observed    float64 `json:"observed"`
			Where       string  `json:"where"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if got.Status != "fail" || got.ExitCode != 1 || got.Summary != (Summary{Passed: 1, Failed: 1}) {
		t.Errorf("status %s exit %d summary %+v, want fail, 1, 1 passed 1 failed", got.Status, got.ExitCode, got.Summary)
	}
	if len(got.Results) != 2 || got.Results[1].Observed != 2.0/512 || got.Results[1].Where != "0.0.0.0:80" {
		t.Errorf("results %+v", got.Results)
	}
}

// The JUnit output parses back with encoding/xml: one testcase per
// requirement, failures and errors with their messages.
func TestCheckJUnit(t *testing.T) {
	r := runCheck(t, nil, "-o", "junit", "--require", "somaxconn>=4096", "--require", "counter.TcpExtListenOverflows==0",
		"--require", "netdev_max_backlog>=1", "--require", "counter.TcpExtNoSuch==0", "--missing", "error")
	type message struct {
		Message string `xml:"message,attr"`
		Body    string `xml:",chardata"`
	}
	var doc struct {
		XMLName  xml.Name `xml:"testsuites"`
		Tests    int      `xml:"tests,attr"`
		Failures int      `xml:"failures,attr"`
		Errors   int      `xml:"errors,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name      string   `xml:"name,attr"`
				Classname string   `xml:"classname,attr"`
				Failure   *message `xml:"failure"`
				Error     *message `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if doc.Tests != 4 || doc.Failures != 1 || doc.Errors != 2 || len(doc.Suites) != 1 || len(doc.Suites[0].Cases) != 4 {
		t.Fatalf("tests %d failures %d errors %d, want 4, 1, 2 in one suite:\n%s", doc.Tests, doc.Failures, doc.Errors, r.stdout)
	}
	cases := doc.Suites[0].Cases
	if cases[0].Name != "net.core.somaxconn >= 4096" || cases[0].Failure != nil || cases[0].Error != nil {
		t.Errorf("passing case: %+v", cases[0])
	}
	if f := cases[1].Failure; f == nil || !strings.HasPrefix(f.Message, "observed 3, expected == 0: a SYN or final ACK arrived while an accept queue was full") {
		t.Errorf("failing case: %+v", cases[1])
	}
	if cases[1].Classname != "backlogctl.check.counter" {
		t.Errorf("classname %q", cases[1].Classname)
	}
	if e := cases[2].Error; e == nil || !strings.Contains(e.Message, "not evaluated: net.core.netdev_max_backlog is not visible here") {
		t.Errorf("error case: %+v", cases[2])
	}
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
}

func TestCheckGitHub(t *testing.T) {
	r := runCheck(t, nil, "-o", "github", "--require", "somaxconn>=4096", "--require", "listener.drops==0")
	want := []string{
		"::notice title=backlogctl check PASS%3A net.core.somaxconn >= 4096::observed 4096, expected >= 4096",
		"::error title=backlogctl check FAIL%3A listener.drops == 0::observed 3 (0.0.0.0:80), expected == 0: the listener's own sk_drops is not an overflow count: it rises on accept-queue overflows (an overflowed final ACK counts 2, tcp_check_req), on SYNs dropped at a full SYN queue with syncookies off, on SYNs dropped by the 3/4 rule of tcp_max_syn_backlog, and on bare ACKs a TCP_DEFER_ACCEPT listener drops (TcpExtTCPDeferAcceptDrop); compare TcpExtListenOverflows, TcpExtTCPReqQFullDrop and TcpExtTCPDeferAcceptDrop over the same window to tell which (backlogctl advise --interval does)",
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := escapeData("50%\nnext"); got != "50%25%0Anext" {
		t.Errorf("escapeData = %q", got)
	}
	if got := escapeProperty("a: b, c"); got != "a%3A b%2C c" {
		t.Errorf("escapeProperty = %q", got)
	}
}

// A policy's ports, window and missing mode apply unless the flag is given;
// --observe goes through the watcher with the sample interval.
func TestCheckPolicyAndObserve(t *testing.T) {
	policy := writePolicy(t, "ports: [443]\nobserve: 2s\nsample_interval: 10ms\nmissing: pass\nrequire: [listener.fill<=0.8]\n")
	var seen []collect.ObserveOptions
	var seenPorts [][]uint16
	watch := func(_ context.Context, src collect.Options, o collect.ObserveOptions) (*model.Observation, error) {
		seen = append(seen, o)
		seenPorts = append(seenPorts, src.Ports)
		obs := fixedObservation(src)
		obs.Window = &model.WindowInfo{Duration: o.Window, Interval: o.Interval, Samples: 3}
		return obs, nil
	}
	if r := runCheck(t, watch, "--policy", policy); r.code != 0 {
		t.Errorf("policy with ports [443], missing: pass: exit %d, want 0 (no listener matched counted as pass)\n%s", r.code, r.stdout)
	}
	if r := runCheck(t, watch, "--policy", policy, "--port", "80", "--observe", "5s", "--missing", "error", "--require", "counter.TcpExtListenOverflows==0"); r.code != 1 {
		t.Errorf("flags over policy: exit %d, want 1\n%s", r.code, r.stdout)
	} else if !strings.Contains(r.stdout, "3 (increase)") || !strings.Contains(r.stdout, "during the 5s window") {
		t.Errorf("windowed text output:\n%s", r.stdout)
	}
	want := []collect.ObserveOptions{{Window: 2 * time.Second, Interval: 10 * time.Millisecond}, {Window: 5 * time.Second, Interval: 10 * time.Millisecond}}
	if diff := cmp.Diff(want, seen, cmp.Comparer(func(a, b collect.ObserveOptions) bool {
		return a.Window == b.Window && a.Interval == b.Interval
	})); diff != "" {
		t.Errorf("watch options (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]uint16{{443}, {80}}, seenPorts); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}
}

func TestObservedText(t *testing.T) {
	tests := []struct {
		res  check.Result
		want string
	}{
		{check.Result{Evaluated: true, Observed: "18446744073709551615", Where: "nginx[1]"}, "unlimited (nginx[1])"},
		{check.Result{Evaluated: true, Observed: "3", Windowed: true, Subject: "counter.TcpExtListenDrops"}, "3 (increase)"},
		{check.Result{Evaluated: true, Observed: "1", Windowed: true, Subject: "listener.fill", Where: "a:1",
			Failing: []string{"a:1=1", "b:2=0.9"}}, "1 (peak, a:1, 2 failing)"},
		{check.Result{Evaluated: false}, "-"},
		{check.Result{Evaluated: true, Observed: "0.0009765625", Subject: "listener.fill", Expected: "0.9", Where: "a:1"}, "0.0009766 (a:1)"},
		{check.Result{Evaluated: true, Observed: "0.3333333333333333", Subject: "listener.fill", Expected: "0.9"}, "0.3333"},
		{check.Result{Evaluated: true, Observed: "0.80002", Subject: "listener.fill", Expected: "0.8"}, "0.80002"},
		{check.Result{Evaluated: true, Observed: "1024", Subject: "net.core.somaxconn", Expected: "4096"}, "1024"},
	}
	for _, tt := range tests {
		if got := observedText(tt.res); got != tt.want {
			t.Errorf("observedText(%+v) = %q, want %q", tt.res, got, tt.want)
		}
	}
}

// The command documents itself and its flags are lower-kebab-case.
func TestCommandHelp(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	cmd := NewCmdCheck(&cmdutil.Factory{IOStreams: ios}, nil)
	if cmd.Short == "" || cmd.Long == "" || cmd.Example == "" {
		t.Errorf("check needs Short, Long and Example")
	}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if strings.ToLower(f.Name) != f.Name || strings.Contains(f.Name, "_") || f.Usage == "" {
			t.Errorf("flag --%s: want lower-kebab-case with a usage line", f.Name)
		}
	})
}
