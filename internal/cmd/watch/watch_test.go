package watch

import (
	"context"
	"encoding/json"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/netns"
	"github.com/backlogctl/backlogctl/netns/netnstest"
)

// syncBuffer is written by watchRun and read by the test while it runs.
type syncBuffer = nstest.SyncBuffer

// reports parses the JSON Lines written so far (a line still being written
// is left for later).
func reports(t *testing.T, out string) []model.WatchReport {
	t.Helper()
	return jsonLines[model.WatchReport](t, out)
}

// jsonLines decodes every complete line of out as one T.
func jsonLines[T any](t *testing.T, out string) []T {
	t.Helper()
	var rs []T
	for _, line := range strings.SplitAfter(out, "\n") {
		if !strings.HasSuffix(line, "\n") {
			break
		}
		var r T
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not a JSON line: %v: %q", err, line)
		}
		rs = append(rs, r)
	}
	return rs
}

// startWatch runs watchRun in the background; stop cancels it and returns its error.
func startWatch(o *Options) (out *syncBuffer, stop func() error) {
	return startWatchOn(o, false)
}

// startWatchOn is startWatch with stdout a terminal (tty) or a pipe.
func startWatchOn(o *Options, tty bool) (out *syncBuffer, stop func() error) {
	ios, _, _, _ := iostreams.Test()
	ios.SetStdoutTTY(tty)
	out = &syncBuffer{}
	ios.Out, ios.ErrOut = out, &syncBuffer{} // ErrOut: read with o.IO.ErrOut.(*syncBuffer)
	o.IO, o.Roots = ios, hostfs.Host()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- watchRun(ctx, o) }()
	return out, func() error { cancel(); return <-done }
}

// A burst that fills the accept queue and is accepted before the next print
// shows as a peak while the printed queue is back to 0.
func TestWatchSeesBurstBetweenPrints(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	fd, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 64, nstest.ListenOpts{})
	o := &Options{Interval: 1500 * time.Millisecond, SampleInterval: 10 * time.Millisecond, Output: "json", Ports: []uint{uint(ep.Port())}}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	out, stop := startWatch(o)
	nstest.Eventually(t, 5*time.Second, "the first JSON line", func() bool { return len(reports(t, out.String())) > 0 })

	// The burst: 5 handshakes wait in the queue ~50ms, then are accepted.
	start := time.Now()
	for i := 0; i < 5; i++ {
		nstest.Connect(t, ep)
	}
	nstest.Eventually(t, 2*time.Second, "5 connections in the accept queue", func() bool {
		ls, err := inspect.Listeners(nil, []uint16{ep.Port()})
		return err == nil && len(ls) == 1 && ls[0].AcceptQueue == 5
	})
	time.Sleep(50 * time.Millisecond)
	for i := 0; i < 5; i++ {
		nfd, _, err := unix.Accept(fd)
		if err != nil {
			t.Fatalf("accept: %v", err)
		}
		t.Cleanup(func() { unix.Close(nfd) })
	}
	burst := time.Since(start)
	t.Logf("burst lasted %v; print interval %v", burst, o.Interval)

	var found *model.WatchListener
	nstest.Eventually(t, 3*o.Interval+time.Second, "a report with the burst's peak", func() bool {
		for _, r := range reports(t, out.String()) {
			for i, l := range r.Listeners {
				if l.PeakAcceptQueue == 5 && l.AcceptQueue == 0 {
					found = &r.Listeners[i]
					return true
				}
			}
		}
		return false
	})
	if err := stop(); err != nil {
		t.Fatalf("watch: %v", err)
	}
	if found.Port != ep.Port() || found.AcceptQueueMax != 64 || found.PeakFill != 5.0/65 {
		t.Errorf("listener report %+v, want port %d, backlog 64, peak fill 5/65", found, ep.Port())
	}
	for _, r := range reports(t, out.String()) {
		if r.Samples < 140 || r.Samples > 150 || len(r.Counters) == 0 || len(r.Rates) != len(r.Counters) {
			t.Errorf("report %+v: want 150 samples per 1.5s print (10ms sampling), counters and their rates", r)
		}
	}
}

// Overflows show as per-listener drops per second and as counter rates.
func TestWatchRates(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	nstest.SetSysctl(t, "net.core.somaxconn", 2)
	_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 100, nstest.ListenOpts{})
	o := &Options{Interval: 200 * time.Millisecond, Output: "json"}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	out, stop := startWatch(o)
	nstest.Eventually(t, 5*time.Second, "the first JSON line", func() bool { return len(reports(t, out.String())) > 0 })
	for i := 0; i < 20; i++ {
		nstest.Connect(t, ep)
	}
	nstest.Eventually(t, 10*time.Second, "drops and overflows per second", func() bool {
		for _, r := range reports(t, out.String()) {
			for _, l := range r.Listeners {
				if l.Port == ep.Port() && l.DropsPerSecond > 0 && l.PeakAcceptQueue == 3 && r.Rates["TcpExtListenOverflows"] > 0 {
					return true
				}
			}
		}
		return false
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// On a terminal the view is redrawn in place, and the end prints the peaks.
func TestWatchTableAndSummary(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 7, nstest.ListenOpts{})
	nstest.Connect(t, ep)
	o := &Options{Interval: 50 * time.Millisecond, Output: "table"}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	// Redrawn again and again, however slowly a loaded machine prints (the
	// bound only stops a hang); the summary comes when watch is stopped.
	out, stop := startWatchOn(o, true)
	nstest.Eventually(t, time.Minute, "three redraws", func() bool { return strings.Count(out.String(), clearScreen) >= 3 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	_, summary, ok := strings.Cut(text, "Peaks over the run:")
	if !ok || !strings.Contains(summary, ep.String()) {
		t.Fatalf("no summary naming %s:\n%s", ep, text)
	}
	if fields := strings.Fields(summary[strings.Index(summary, ep.String()):]); fields[1] != "7" || fields[2] != "1" {
		t.Errorf("summary row %v, want backlog 7 and peak accept queue 1", fields[:6])
	}
}

// -o table into a pipe writes plain tab-separated lines, one per listener
// per interval under one header, with no escape sequences and no summary.
func TestWatchTableIntoAPipe(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 7, nstest.ListenOpts{})
	nstest.Connect(t, ep)
	o := &Options{Interval: 50 * time.Millisecond, Output: "table", Ports: []uint{uint(ep.Port())}}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	out, stop := startWatchOn(o, false)
	nstest.Eventually(t, time.Minute, "three intervals", func() bool { return strings.Count(out.String(), "\n") >= 4 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if strings.Contains(text, "\x1b") || strings.Contains(text, "Peaks over the run") {
		t.Fatalf("escape sequences or a summary in a pipe:\n%q", text)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "TIME\tADDRESS\tPORT\tACCEPT-Q\tPEAK\tBACKLOG") || strings.Count(text, "TIME\t") != 1 {
		t.Fatalf("want one header line first:\n%s", text)
	}
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		if len(f) != strings.Count(lines[0], "\t")+1 || f[1] != "127.0.0.1" || f[2] != strconv.Itoa(int(ep.Port())) || f[5] != "7" {
			t.Errorf("line %q: want the listener's time, address, port and backlog 7", l)
		}
		if _, err := time.Parse(time.RFC3339Nano, f[0]); err != nil {
			t.Errorf("line %q: time: %v", l, err)
		}
	}
}

// --netns watches a namespace through a socket opened inside it.
func TestWatchNetns(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	path := netnstest.Hold(t)
	o := &Options{Interval: 100 * time.Millisecond, Duration: 350 * time.Millisecond, Output: "json"}
	o.Namespaces.Netns = path
	_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 9, nstest.ListenOpts{}) // not in the watched namespace
	out := runWatch(t, o)
	rs := reports(t, out)
	if len(rs) == 0 {
		t.Fatal("no reports")
	}
	for _, r := range rs {
		if r.Netns == nil || r.Netns.Path != path {
			t.Errorf("report netns %+v, want %s", r.Netns, path)
		}
		for _, l := range r.Listeners {
			if l.Port == ep.Port() {
				t.Errorf("listener %s of the test's own namespace seen in %s", ep, path)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name       string
		o          Options
		wantSample time.Duration
		wantCode   int
	}{
		{"1s samples at 10ms (100 Hz)", Options{Interval: time.Second}, 10 * time.Millisecond, 0},
		{"default 100ms samples at 10ms", Options{Interval: DefaultInterval}, 10 * time.Millisecond, 0},
		{"100ms samples at 10ms", Options{Interval: 100 * time.Millisecond}, 10 * time.Millisecond, 0},
		{"10ms samples at 10ms (100 Hz)", Options{Interval: 10 * time.Millisecond}, 10 * time.Millisecond, 0},
		{"5ms samples at 5ms", Options{Interval: 5 * time.Millisecond}, 5 * time.Millisecond, 0},
		{"explicit", Options{Interval: time.Second, SampleInterval: 250 * time.Millisecond}, 250 * time.Millisecond, 0},
		{"syn below sample", Options{Interval: time.Second, SynSampleInterval: time.Millisecond}, 0, cmdutil.ExitUsage},
		{"zero interval", Options{}, 0, cmdutil.ExitUsage},
		{"sample above interval", Options{Interval: time.Second, SampleInterval: 2 * time.Second}, 0, cmdutil.ExitUsage},
		{"sample too fast", Options{Interval: time.Second, SampleInterval: time.Microsecond}, 0, cmdutil.ExitUsage},
		{"negative duration", Options{Interval: time.Second, Duration: -time.Second}, 0, cmdutil.ExitUsage},
		{"bad output", Options{Interval: time.Second, Output: "yaml"}, 0, cmdutil.ExitUsage},
		{"bad port", Options{Interval: time.Second, Ports: []uint{0}}, 0, cmdutil.ExitUsage},
	}
	// An interval below the fastest sample is the interval's fault, and
	// the message says what it wants, not "1ms..1ns".
	o := Options{Interval: time.Nanosecond, SampleInterval: time.Nanosecond}
	if err := o.Validate(); cmdutil.ExitCode(err) != cmdutil.ExitUsage || err.Error() != "invalid --interval 1ns: want at least 1ms (each interval holds at least one sample)" {
		t.Errorf("--interval 1ns --sample-interval 1ns: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o
			err := o.Validate()
			if got := cmdutil.ExitCode(err); got != tt.wantCode {
				t.Fatalf("exit %d (%v), want %d", got, err, tt.wantCode)
			}
			if err == nil && o.SampleInterval != tt.wantSample {
				t.Errorf("sample interval %v, want %v", o.SampleInterval, tt.wantSample)
			}
			if err == nil && tt.o.SynSampleInterval == 0 && o.SynSampleInterval != max(tt.wantSample, 500*time.Millisecond) {
				t.Errorf("syn sample interval %v, want max(sample, 500ms)", o.SynSampleInterval)
			}
		})
	}
}

// --all-netns prints one line per interval with every namespace in it.
func TestWatchAllNetns(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	a, b := netnstest.Hold(t), netnstest.Hold(t)
	// Other namespaces on the host may hold thousands of listeners: leave
	// time for a print.
	o := &Options{Interval: 300 * time.Millisecond, Output: "json"}
	o.Namespaces.All = true
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	buf, stop := startWatch(o)
	nstest.Eventually(t, time.Minute, "the first JSON line", func() bool { return strings.Contains(buf.String(), "\n") })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var m model.WatchMultiReport
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	for _, r := range m.Namespaces {
		if r.Netns == nil {
			t.Fatalf("a namespace report without netns: %+v", r)
		}
		if len(r.Counters) == 0 {
			t.Errorf("namespace %s: no counters", r.Netns.Label())
		}
	}
	want := map[uint64]bool{}
	for _, p := range []string{a, b} {
		ns, err := netns.Resolve(p, "")
		if err != nil {
			t.Fatal(err)
		}
		want[ns.Inode] = true
	}
	for _, r := range m.Namespaces {
		delete(want, r.Netns.Inode)
	}
	if len(want) != 0 {
		t.Errorf("test namespaces %v missing from the line", want)
	}
}

// runWatch validates o and runs watch to the end of its --duration.
func runWatch(t *testing.T, o *Options) string {
	t.Helper()
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	ios, _, out, _ := iostreams.Test()
	o.IO, o.Roots = ios, hostfs.Host()
	if err := watchRun(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	return out.String()
}
