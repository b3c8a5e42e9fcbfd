package watch

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/model"
)

// On a terminal of known height the view draws the fullest listeners that
// fit and says how many it left out; of unknown height, all of them.
func TestDrawReportFitsTheTerminal(t *testing.T) {
	r := &model.WatchReport{}
	for i := 0; i < 100; i++ {
		r.Listeners = append(r.Listeners, model.WatchListener{Listener: model.Listener{Address: "127.0.0.1", Port: uint16(1000 + i)}})
	}
	for _, tt := range []struct {
		height, reports, wantRows int
	}{
		{0, 1, 100},
		{50, 1, 50 - 1 - viewLines},
		{50, 2, 49/2 - viewLines},
		{10, 1, 3},
	} {
		var b bytes.Buffer
		if err := drawReport(&b, ttyStreams(), r, listenerRows(tt.height, tt.reports), nil); err != nil {
			t.Fatal(err)
		}
		got := strings.Count(b.String(), "127.0.0.1")
		if got != tt.wantRows {
			t.Errorf("height %d, %d reports: %d listener rows, want %d", tt.height, tt.reports, got, tt.wantRows)
		}
		if more := strings.Contains(b.String(), "more listeners"); more != (tt.wantRows < 100) {
			t.Errorf("height %d: \"more listeners\" line shown %v, want %v", tt.height, more, tt.wantRows < 100)
		}
		if tt.height > 0 && tt.reports == 1 && strings.Count(b.String(), "\n") > tt.height-1 {
			t.Errorf("height %d: view of %d lines does not fit", tt.height, strings.Count(b.String(), "\n"))
		}
	}
}

// The redrawn view fits the terminal's width: at 60 columns no line is
// wider (a wrapped line would scroll the screen and tear the next redraw),
// and the columns that matter stay; at 200 every column is shown.
func TestViewFitsTerminalWidth(t *testing.T) {
	r := &model.WatchReport{Time: time.Now(), Samples: 10, Counters: map[string]uint64{}, Rates: map[string]float64{}}
	for _, name := range model.CounterNames {
		r.Counters[name] = 123456789
	}
	for i := 0; i < 3; i++ {
		r.Listeners = append(r.Listeners, model.WatchListener{
			Listener: model.Listener{Address: "192.168.100.200", Port: uint16(8080 + i), AcceptQueueMax: 4096,
				Processes: []model.Process{{Comm: "nginx", PID: 123456}, {Comm: "nginx", PID: 123457}}},
			PeakAcceptQueue: 4097, PeakFill: 1, DropsPerSecond: 1234.5,
		})
	}
	for _, tt := range []struct {
		width    int
		want     []string
		wantNone []string
	}{
		{60, []string{"ADDRESS", "PORT", "ACCEPT-Q", "PEAK-FILL", "DROPS/S"}, []string{"PROCESSES", "SYN-Q"}},
		{80, []string{"ADDRESS", "PORT", "ACCEPT-Q", "PEAK-FILL", "DROPS/S", "PEAK "}, []string{"SYN-Q"}},
		{200, []string{"SYN-Q", "BACKLOG", "PEAK-SYN", "PROCESSES", "nginx[123457]", "FILL-1M", "                   █"}, nil},
	} {
		ios, _, out, _ := iostreams.Test()
		ios.SetStdoutTTY(true)
		ios.SetTerminalWidth(tt.width)
		p := newPrinter(&Options{IO: ios, Interval: time.Second, SampleInterval: 100 * time.Millisecond})
		if err := p.print([]*model.WatchReport{r}, nil); err != nil {
			t.Fatal(err)
		}
		view := strings.TrimPrefix(out.String(), clearScreen)
		for _, l := range strings.Split(strings.TrimSuffix(view, "\n"), "\n") {
			if n := utf8.RuneCountInString(l); n > tt.width {
				t.Errorf("width %d: line of %d columns: %q", tt.width, n, l)
			}
		}
		for _, w := range tt.want {
			if !strings.Contains(view, w) {
				t.Errorf("width %d: view lacks %q:\n%s", tt.width, w, view)
			}
		}
		for _, w := range tt.wantNone {
			if strings.Contains(view, w) {
				t.Errorf("width %d: view still has %q:\n%s", tt.width, w, view)
			}
		}
	}
}

// With --processes, a listener whose owner runs in a known pod has it in a
// POD column; with no pod among the listeners there is no such column.
func TestDrawReportPodColumn(t *testing.T) {
	web := model.Workload{Pod: "web-7d4b9c8f6-x2k9p", Namespace: "shop", Container: "app"}
	r := &model.WatchReport{Listeners: []model.WatchListener{
		{Listener: model.Listener{Address: "0.0.0.0", Port: 8000, Processes: []model.Process{{Comm: "gunicorn", PID: 7100, Workload: web}}}},
		{Listener: model.Listener{Address: "127.0.0.1", Port: 22, Processes: []model.Process{{Comm: "sshd", PID: 1}}}},
	}}
	for _, traced := range []bool{false, true} {
		r.Traced = traced
		var b bytes.Buffer
		if err := drawReport(&b, ttyStreams(), r, 0, nil); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(b.String(), "\n")
		if !strings.Contains(lines[1], " POD ") || !strings.Contains(b.String(), "shop/web-7d4b9c8f6-x2k9p/app  gunicorn[7100]") {
			t.Errorf("traced %v: no POD column with the pod before its process:\n%s", traced, b.String())
		}
	}
	r.Listeners = r.Listeners[1:]
	var b bytes.Buffer
	if err := drawReport(&b, ttyStreams(), r, 0, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "POD") {
		t.Errorf("a POD column with no pod:\n%s", b.String())
	}
}

// ttyStreams are streams that say they are a terminal of unknown width.
func ttyStreams() *iostreams.IOStreams {
	ios, _, _, _ := iostreams.Test()
	ios.SetStdoutTTY(true)
	return ios
}

// FILL-1M draws the last minute of a listener's fill, one character per
// three seconds: blank before the first sample, a slot without a sample of
// its own repeating the one before, and a minute-old fill forgotten.
func TestFillSparkline(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	l := model.WatchListener{Listener: model.Listener{Address: "127.0.0.1", Port: 80}}
	h := fillHistory{}
	report := func(at time.Duration, fill float64) *model.WatchReport {
		l.PeakFill = fill
		return &model.WatchReport{Time: start.Add(at), Listeners: []model.WatchListener{l}}
	}
	for _, s := range []struct {
		at   time.Duration
		fill float64
	}{{0, 0}, {3 * time.Second, 0.3}, {9 * time.Second, 1}, {10 * time.Second, 0.5}, {30 * time.Second, 0.6}} {
		h.record([]*model.WatchReport{report(s.at, s.fill)})
	}
	r := report(30*time.Second, 0.6)
	key := listenerKey(r, l)
	if got, want := h.sparkline(key, r.Time), "         ▁▃▃█▅▅▅▅▅▅▅"; got != want {
		t.Errorf("sparkline at 30s = %q, want %q", got, want)
	}
	h.record([]*model.WatchReport{report(100*time.Second, 0.2)})
	if got, want := h.sparkline(key, start.Add(100*time.Second)), "                   ▂"; got != want {
		t.Errorf("a minute later the old fills are gone: %q, want %q", got, want)
	}
}

// watch --trace draws the interval's accept waits of the listener that
// accepted the most as a histogram under its table; JSON is unchanged.
func TestTracedViewDrawsWaitHistogram(t *testing.T) {
	le := func(i int) *float64 { v := model.WaitBucketLE(i); return &v }
	r := &model.WatchReport{Time: time.Now(), Traced: true, Counters: map[string]uint64{}, Rates: map[string]float64{}}
	for i, n := range []uint64{3, 50} {
		r.Listeners = append(r.Listeners, model.WatchListener{
			Listener: model.Listener{Family: "ipv4", Address: "127.0.0.1", Addr: netip.MustParseAddr("127.0.0.1"), Port: uint16(8080 + i), AcceptQueueMax: 128},
			Traced: &model.WatchTraced{AcceptWait: model.WatchWait{Count: n,
				Buckets: []model.WaitBucket{{LE: le(19), Count: n - 1}, {LE: le(21), Count: 1}}}},
		})
	}
	var b bytes.Buffer
	if err := drawReport(&b, ttyStreams(), r, 0, fillHistory{}); err != nil {
		t.Fatal(err)
	}
	want := "Accept waits at 127.0.0.1:8081 in the last interval: 50 accepted\n" +
		"  ≤1.05ms  ████████████████████████████████████████ 49\n" +
		"   ≤2.1ms   0\n" +
		"  ≤4.19ms  ▉ 1\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("view lacks the histogram\n%s\ngot:\n%s", want, b.String())
	}
	line, err := appendReport(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(line), "buckets") {
		t.Errorf("the JSON line gained the buckets: %s", line)
	}
}
