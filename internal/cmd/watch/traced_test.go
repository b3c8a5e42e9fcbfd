package watch

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/trace"
)

// watch --trace on the real kernel: a burst of 7 handshakes into a backlog
// of 4 shows the exact high water 5 (backlog+1) in the interval it happened,
// the overflows, then, once 5 are accepted after waiting >= 50ms, the
// interval's waits; sampling with a print every second would have to be
// lucky to see the burst at all (sampling is made rare here: 1 Hz).
func TestWatchTraceExactHighWater(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	if p, err := trace.Check(); err != nil || !p.OK() {
		t.Skipf("eBPF tracing is not available here: %v %+v", err, p)
	}
	fd, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 4, nstest.ListenOpts{})
	o := &Options{Interval: 400 * time.Millisecond, SampleInterval: 400 * time.Millisecond, Output: "json",
		Ports: []uint{uint(ep.Port())}, Trace: true}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	out, stop := startWatch(o)
	nstest.Eventually(t, 5*time.Second, "the first JSON line", func() bool { return len(reports(t, out.String())) > 0 })
	for range 7 {
		nstest.Connect(t, ep)
	}
	time.Sleep(50 * time.Millisecond)
	for range 5 {
		c, _, err := unix.Accept(fd)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(c) })
	}
	var rose, waited *TracedInterval
	nstest.Eventually(t, 10*time.Second, "the high water and the waits", func() bool {
		for _, r := range reports(t, out.String()) {
			if !r.Traced || len(r.Listeners) != 1 || r.Listeners[0].Traced == nil {
				t.Fatalf("report without traced evidence: %+v", r)
			}
			tr := r.Listeners[0].Traced
			if tr.HighWaterRose {
				rose = tr
			}
			if tr.AcceptWait.Count > 0 && waited == nil {
				waited = tr
			}
		}
		return rose != nil && waited != nil
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if rose.AcceptQueueHighWater != 5 || rose.HighWaterFill != 1 {
		t.Errorf("interval where the high water rose: %+v, want 5 of 5 (fill 1)", rose)
	}
	var accepted uint64
	for _, r := range reports(t, out.String()) {
		accepted += r.Listeners[0].Traced.Accepted
	}
	if accepted != 5 {
		t.Errorf("accepted over the intervals: %d, want 5", accepted)
	}
	if waited.AcceptWait.P99 < 0.05 || waited.AcceptWait.P99 < waited.AcceptWait.P50 {
		t.Errorf("waits %+v: every connection waited at least 50ms", waited.AcceptWait)
	}
}

// Where the kernel refuses the programs: one warning, sampled peaks.
func TestWatchTraceRefused(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	ios, _, _, stderr := iostreams.Test()
	o := &Options{Interval: 50 * time.Millisecond, Duration: 200 * time.Millisecond, Output: "json", Trace: true,
		StartTrace: func() (trace.Source, error) { return nil, trace.ErrNoPermission }}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	ios.Out = out
	o.IO, o.Roots = ios, hostfs.Host()
	if err := watchRun(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stderr.String(), "\n"); n != 1 || !strings.Contains(stderr.String(), "eBPF tracing unavailable") {
		t.Errorf("stderr %q, want one warning line", stderr)
	}
	rs := reports(t, out.String())
	if len(rs) == 0 || rs[0].Traced {
		t.Errorf("reports %+v, want sampled ones", rs)
	}
}
