package trace

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
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
	"github.com/backlogctl/backlogctl/trace"
	"github.com/backlogctl/backlogctl/trace/tracetest"
)

// fakeSource returns fixed evidence and records Close; with stopAfter set
// it calls stop once it has been read that many times.
type fakeSource struct {
	ev        *trace.Evidence
	closed    int
	reads     int
	stopAfter int
	stop      func()
	// err, when set, is every read's error.
	err error
}

func (f *fakeSource) Snapshot() (*trace.Evidence, error) {
	f.reads++
	if f.stop != nil && f.reads == f.stopAfter {
		f.stop()
	}
	if f.err != nil {
		return nil, f.err
	}
	return f.ev, nil
}
func (f *fakeSource) Hooks() []trace.Hook { return trace.Hooks }
func (f *fakeSource) Memory() uint64      { return 4 << 20 }
func (f *fakeSource) Close() error        { f.closed++; return nil }

func testOptions(t *testing.T, src *fakeSource) (*Options, *strings.Builder, *strings.Builder) {
	ios, _, _, _ := iostreams.Test()
	o := &Options{IO: ios, Roots: hostfs.Roots{Proc: t.TempDir()}, Interval: 10 * time.Millisecond, Duration: 35 * time.Millisecond,
		Stall: time.Second, Output: "json",
		Collect: collect.Options{OpenTrace: func(trace.Options) (trace.Source, error) { return src, nil }}}
	var so, se strings.Builder
	o.IO.Out, o.IO.ErrOut = &so, &se
	return o, &so, &se
}

// listener opens a loopback listener (backlog 2) and returns its port and
// its key in the programs' maps.
func listener(t *testing.T) (uint16, trace.Key) {
	t.Helper()
	fd, addr := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 2, nstest.ListenOpts{})
	return addr.Port(), tracetest.Key(t, fd)
}

// Every interval prints one JSON object with the listener's evidence; the
// source is closed at the end.
func TestJSONLines(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	port, key := listener(t)
	src := &fakeSource{ev: &trace.Evidence{Time: time.Now(), Since: time.Now(), Listeners: map[trace.Key]*trace.ListenerEvidence{
		key: {Key: key, AcceptQueueHighWater: 3, Enqueued: 5, Accepted: 2,
			AckOverflows: 1, Drops: map[string]uint64{"TCP_LISTEN_OVERFLOW": 1}},
	}}}
	o, out, _ := testOptions(t, src)
	o.Ports = []uint{uint(port)}
	// Stopped (as by Ctrl-C) at the third read, however slow the machine:
	// at least one interval's line and the final one.
	o.Duration = 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src.stop, src.stopAfter = cancel, 3
	if err := traceRun(ctx, o); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 2 {
		t.Fatalf("want a line per interval and a final one, got %q", out.String())
	}
	for _, line := range lines {
		var r model.TraceReport
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if len(r.Listeners) != 1 {
			t.Fatalf("listeners %+v", r.Listeners)
		}
		l := r.Listeners[0]
		if l.AcceptQueueHighWater != 3 || l.Enqueued != 5 || l.Accepted != 2 || l.Overflows.AckTime != 1 || l.Netns != key.Netns || l.Cookie != key.Cookie {
			t.Errorf("listener %+v", l)
		}
	}
	if src.closed != 1 {
		t.Errorf("source closed %d times, want 1", src.closed)
	}
}

// Piped, the table is plain tab-separated lines under one header.
func TestPlainLines(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	port, _ := listener(t)
	src := &fakeSource{ev: &trace.Evidence{Time: time.Now(), Since: time.Now(), Listeners: map[trace.Key]*trace.ListenerEvidence{}}}
	o, out, _ := testOptions(t, src)
	o.Output, o.Ports = "table", []uint{uint(port)}
	if err := traceRun(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if !strings.HasPrefix(lines[0], "TIME\tNETNS\tADDRESS\tPORT") || strings.Count(out.String(), "TIME\t") != 1 {
		t.Fatalf("want one header line first, got %q", out.String())
	}
	for _, line := range lines[1:] {
		if f := strings.Split(line, "\t"); len(f) != len(header)+1 || f[2] != "127.0.0.1" || f[3] != strconv.Itoa(int(port)) {
			t.Errorf("row %q", line)
		}
	}
	if strings.Contains(out.String(), clearScreen) {
		t.Errorf("a pipe got terminal escapes")
	}
}

// Without BTF or permission: one line, exit 3, pointing at watch.
func TestUnavailable(t *testing.T) {
	for _, cause := range []error{trace.ErrNoBTF, trace.ErrNoPermission} {
		o, out, _ := testOptions(t, nil)
		o.Collect.OpenTrace = func(trace.Options) (trace.Source, error) { return nil, cause }
		err := traceRun(context.Background(), o)
		if cmdutil.ExitCode(err) != cmdutil.ExitEnv {
			t.Errorf("%v: exit %d, want %d", cause, cmdutil.ExitCode(err), cmdutil.ExitEnv)
		}
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "backlogctl watch") {
			t.Errorf("%v: error %q, want one line suggesting watch", cause, err)
		}
		if out.Len() != 0 {
			t.Errorf("printed %q", out.String())
		}
	}
}

// A failure after the programs are attached still closes them.
func TestErrorClosesSource(t *testing.T) {
	src := &fakeSource{err: errors.New("reading the maps failed")}
	o, _, _ := testOptions(t, src)
	if err := traceRun(context.Background(), o); err == nil {
		t.Fatal("want the read's error")
	}
	if src.closed != 1 {
		t.Errorf("source closed %d times, want 1", src.closed)
	}
}

// The JSON a listener stalled at an owner in state T carries it.
func TestStalledRow(t *testing.T) {
	l := model.TraceReportListener{Address: "::", Port: 8080, Stalled: true, StalledSeconds: 2.5,
		Processes: []model.TracedOwner{{PID: 9, Comm: "srv", State: "T (stopped)"}}}
	r := row(l)
	if got := r[17]; got != "2.5s" {
		t.Errorf("STALLED %q, want 2.5s", got)
	}
	if got := r[18]; got != "srv[9]:T (stopped)" {
		t.Errorf("PROCESSES %q", got)
	}
}

func TestValidate(t *testing.T) {
	for _, o := range []Options{
		{Output: "yaml", Interval: time.Second, Stall: time.Second},
		{Output: "json", Interval: 0, Stall: time.Second},
		{Output: "json", Interval: time.Second, Stall: 0},
		{Output: "json", Interval: time.Second, Stall: time.Second, Duration: -1},
		{Output: "json", Interval: time.Second, Stall: time.Second, Ports: []uint{70000}},
	} {
		if err := o.Validate(); cmdutil.ExitCode(err) != cmdutil.ExitUsage {
			t.Errorf("%+v: %v, want a usage error", o, err)
		}
	}
}
