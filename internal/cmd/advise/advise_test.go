package advise

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/model"
)

// snapshot is a host with somaxconn and one listener on 127.0.0.1:9000.
func snapshot(somaxconn int64, overflows uint64, l model.Listener) *model.Snapshot {
	return &model.Snapshot{
		Time:   time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC),
		Kernel: "6.18.44",
		Sysctls: map[string]int64{
			"net.core.somaxconn": somaxconn, "net.ipv4.tcp_syncookies": 1, "net.ipv4.tcp_abort_on_overflow": 0,
		},
		Counters:  map[string]uint64{"TcpExtListenOverflows": overflows},
		Listeners: []model.Listener{l},
	}
}

func listener(queue, backlog uint32, owners ...model.Process) model.Listener {
	return model.Listener{Family: "ipv4", Address: "127.0.0.1", Port: 9000,
		AcceptQueue: queue, AcceptQueueMax: backlog, Inode: 77, Processes: owners}
}

// collects returns a Collect that hands out samples, recording its options.
func collects(calls *[]collect.SampleOptions, opts *collect.Options, samples ...*model.Samples) func(collect.Options, collect.SampleOptions) ([]*model.Samples, []string, error) {
	return func(o collect.Options, so collect.SampleOptions) ([]*model.Samples, []string, error) {
		*calls = append(*calls, so)
		if opts != nil {
			*opts = o
		}
		return samples, nil, nil
	}
}

// now is one sample of s.
func now(s *model.Snapshot, softnet ...uint64) model.Sample {
	out := model.Sample{Snapshot: s}
	if len(softnet) > 0 {
		out.SoftnetDropped = &softnet[0]
	}
	return out
}

func runJSON(t *testing.T, o *Options) Report {
	t.Helper()
	ios, _, out, _ := iostreams.Test()
	o.IO, o.Output = ios, "json"
	if err := adviseRun(o); err != nil {
		t.Fatalf("adviseRun: %v", err)
	}
	var r Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	return r
}

func ids(r Report) []string {
	out := []string{}
	for _, f := range r.Findings {
		out = append(out, fmt.Sprintf("%s %s %s", f.Severity, f.ID, f.Subject))
	}
	return out
}

func TestAdviseRunOneSample(t *testing.T) {
	var calls []collect.SampleOptions
	var opts collect.Options
	o := &Options{
		Ports:   []uint{9000},
		Collect: collects(&calls, &opts, &model.Samples{Now: now(snapshot(8, 500, listener(9, 8)), 0)}),
	}
	r := runJSON(t, o)
	want := []string{"warning somaxconn-clamps-listener 127.0.0.1:9000", "info listen-overflows-since-boot TcpExtListenOverflows"}
	if diff := cmp.Diff(want, ids(r)); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	wantPlan := []advise.Change{{Key: "net.core.somaxconn", Current: ptr(int64(8)), Target: 4096, Scope: "netns", Reason: "advise: somaxconn-clamps-listener"}}
	if diff := cmp.Diff(wantPlan, r.Plan.Changes); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]uint16{9000}, opts.Ports); diff != "" || opts.Trace != collect.TraceOff || len(calls) != 1 || calls[0].Interval != 0 {
		t.Errorf("collect options %+v, %+v; want port 9000, no trace, one sample", opts, calls)
	}
	if r.IntervalSeconds != 0 {
		t.Errorf("interval_seconds = %v without --interval", r.IntervalSeconds)
	}
}

func ptr[T any](v T) *T { return &v }

// The same rising counters are info as totals and a warning as a delta.
func TestAdviseRunInterval(t *testing.T) {
	var calls []collect.SampleOptions
	before := now(snapshot(4096, 100, listener(0, 4096)), 10)
	o := &Options{
		Interval: 5 * time.Second, IntervalSet: true,
		Collect: collects(&calls, nil, &model.Samples{Before: &before, Interval: 5 * time.Second,
			Now: now(snapshot(4096, 250, listener(0, 4096)), 30)}),
	}
	r := runJSON(t, o)
	want := []string{
		"warning listen-overflows-in-bursts TcpExtListenOverflows",
		"warning netdev-backlog-drops net.core.netdev_max_backlog",
	}
	if diff := cmp.Diff(want, ids(r)); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	if len(calls) != 1 || calls[0].Interval != 5*time.Second || r.IntervalSeconds != 5 {
		t.Errorf("collect calls %+v, interval_seconds %v; want one for two samples 5s apart", calls, r.IntervalSeconds)
	}
	if got := r.Findings[0].Evidence["TcpExtListenOverflows_delta"]; got != 150 {
		t.Errorf("overflow delta = %v, want 150", got)
	}
	if got := r.Findings[1].Evidence["softnet_dropped_delta"]; got != 20 {
		t.Errorf("softnet delta = %v, want 20", got)
	}
}

func TestAdviseRunNamesSystemdUnit(t *testing.T) {
	var calls []collect.SampleOptions
	owner := model.Process{PID: 31, Comm: "nginx", OpenFDs: 1024, NofileSoft: 1024, NofileHard: 524288}
	o := &Options{
		Collect: collects(&calls, nil, &model.Samples{Now: now(snapshot(4096, 0, listener(512, 511, owner))),
			Units: map[int]string{31: "nginx.service"}}),
	}
	r := runJSON(t, o)
	f, ok := advise.FindingByID(r.Findings, "accept-queue-full-at-nofile", "pid:31")
	if !ok {
		t.Fatalf("no descriptor finding in %v", ids(r))
	}
	if !strings.Contains(f.Fix, "backlogctl rlimit set --systemd-unit nginx.service") {
		t.Errorf("fix = %q, want the nginx.service drop-in", f.Fix)
	}
}

func TestAdviseRunTable(t *testing.T) {
	var calls []collect.SampleOptions
	ios, _, out, _ := iostreams.Test()
	o := &Options{IO: ios, Output: "table", Collect: collects(&calls, nil, &model.Samples{Now: now(snapshot(8, 0, listener(9, 8)))})}
	if err := adviseRun(o); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"#\tSEVERITY\tID\tSUBJECT\tCURRENT\tRECOMMENDED\tEVIDENCE\n",
		"1\twarning\tsomaxconn-clamps-listener\t127.0.0.1:9000\t8\t4096\taccept_queue=9 backlog=8 somaxconn=8\n",
		"   fix: raise net.core.somaxconn to 4096, then restart the program (or make it call listen() again)",
		"net.core.somaxconn\t8\t4096\tnetns\tadvise: somaxconn-clamps-listener\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("table output lacks %q:\n%s", want, text)
		}
	}
}

func TestAdviseRunGatherFails(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	o := &Options{IO: ios, Output: "json", Collect: func(collect.Options, collect.SampleOptions) ([]*model.Samples, []string, error) {
		return nil, nil, errors.New("dumping ipv4 listeners: operation not permitted")
	}}
	if code := cmdutil.ExitCode(adviseRun(o)); code != cmdutil.ExitEnv {
		t.Errorf("exit code = %d, want %d", code, cmdutil.ExitEnv)
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string // "" means valid
		check   func(*Options) string
	}{
		{args: []string{}},
		{args: []string{"--interval", "10s", "--port", "80,443", "-o", "json"}, check: func(o *Options) string {
			if o.Interval != 10*time.Second || !o.IntervalSet || len(o.Ports) != 2 {
				return fmt.Sprintf("%+v", o)
			}
			return ""
		}},
		{args: []string{"--rate", "2000", "--accept-latency", "5ms"}, check: func(o *Options) string {
			if o.Rate != 2000 || o.AcceptLatency != 5*time.Millisecond {
				return fmt.Sprintf("%+v", o)
			}
			return ""
		}},
		{args: []string{"--profile", "high-concurrency"}},
		{args: []string{"--interval", "0s"}, wantErr: "invalid --interval 0s"},
		{args: []string{"--interval", "-1s"}, wantErr: "invalid --interval -1s"},
		{args: []string{"--rate", "-5", "--accept-latency", "1ms"}, wantErr: "invalid --rate -5"},
		{args: []string{"--rate", "0", "--accept-latency", "1ms"}, wantErr: "invalid --rate 0"},
		{args: []string{"--rate", "100"}, wantErr: "--rate and --accept-latency go together"},
		{args: []string{"--accept-latency", "10ms"}, wantErr: "--rate and --accept-latency go together"},
		{args: []string{"--rate", "100", "--accept-latency", "0s"}, wantErr: "invalid --accept-latency 0s"},
		{args: []string{"--profile", "turbo"}, wantErr: `invalid --profile: unknown profile "turbo"`},
		{args: []string{"--port", "70000"}, wantErr: "invalid --port 70000"},
		{args: []string{"-o", "xml"}, wantErr: `invalid --output "xml"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			ios, _, _, _ := iostreams.Test()
			var got *Options
			cmd := NewCmdAdvise(&cmdutil.Factory{IOStreams: ios}, func(o *Options) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(ios.Out)
			cmd.SetErr(ios.ErrOut)
			err := cmd.Execute()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("error %v, want none", err)
				}
				if tt.check != nil {
					if msg := tt.check(got); msg != "" {
						t.Errorf("options: %s", msg)
					}
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line containing %q", err, tt.wantErr)
			}
			if code := cmdutil.ExitCode(err); code != cmdutil.ExitUsage {
				t.Errorf("exit code %d, want %d", code, cmdutil.ExitUsage)
			}
			if got != nil {
				t.Error("the command ran despite a bad flag")
			}
		})
	}
}

func TestHelpDocumentsProfiles(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	cmd := NewCmdAdvise(&cmdutil.Factory{IOStreams: ios}, nil)
	for _, p := range advise.Profiles {
		if !strings.Contains(cmd.Long, p.Name+" ") || !strings.Contains(cmd.Long, p.Description) {
			t.Errorf("--help does not document profile %s", p.Name)
		}
		for k, v := range p.Targets {
			if !strings.Contains(cmd.Long, fmt.Sprintf("%s =", k)) && !strings.Contains(cmd.Long, fmt.Sprintf("%s >= %d", k, v)) {
				t.Errorf("--help does not give profile %s's target for %s", p.Name, k)
			}
		}
	}
	if cmd.Short == "" || cmd.Example == "" {
		t.Error("Short or Example missing")
	}
}

func TestAdviseRunSizing(t *testing.T) {
	var calls []collect.SampleOptions
	o := &Options{
		Rate: 1000, AcceptLatency: 100 * time.Millisecond, RateSet: true, LatencySet: true,
		Profile: "default",
		Collect: collects(&calls, nil, &model.Samples{Now: now(snapshot(4096, 0, listener(0, 128)))}),
	}
	r := runJSON(t, o)
	if diff := cmp.Diff(&SizingReport{Rate: 1000, AcceptLatencySeconds: 0.1, Backlog: 256}, r.Sizing); diff != "" {
		t.Errorf("sizing (-want +got):\n%s", diff)
	}
	if r.Profile != "default" {
		t.Errorf("profile = %q", r.Profile)
	}
	want := []string{"warning listener-below-sizing 127.0.0.1:9000", "info backlog-sizing sizing"}
	if diff := cmp.Diff(want, ids(r)); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}
