package watch

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/trace"
	"github.com/backlogctl/backlogctl/trace/tracetest"
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
	tracetest.Require(t)
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
	var rose, waited *model.WatchTraced
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

// watch --trace's per-interval high water is each interval's own exact
// peak, not the running maximum: a listener (backlog 8, the test accepts)
// gets 5 connections, all accepted, then 2: once the 5 are gone the
// intervals report 0, then 2 while the 2 wait (held, no event), while
// accept_queue_high_water stays 5. The phases are told apart by reports:
// the second report after a phase ends covers only what came after it.
func TestWatchTraceIntervalHighWater(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	tracetest.Require(t)
	fd, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 8, nstest.ListenOpts{})
	o := &Options{Interval: 200 * time.Millisecond, SampleInterval: 200 * time.Millisecond, Output: "json",
		Ports: []uint{uint(ep.Port())}, Trace: true}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	out, stop := startWatch(o)
	traced := func() []*model.WatchTraced {
		var ts []*model.WatchTraced
		for _, r := range reports(t, out.String()) {
			if !r.Traced || len(r.Listeners) != 1 || r.Listeners[0].Traced == nil {
				t.Fatalf("report without traced evidence: %+v", r)
			}
			ts = append(ts, r.Listeners[0].Traced)
		}
		return ts
	}
	// twoMore waits for two reports after the n seen and returns all.
	twoMore := func(n int) []*model.WatchTraced {
		var ts []*model.WatchTraced
		nstest.Eventually(t, 10*time.Second, "two more reports", func() bool { ts = traced(); return len(ts) >= n+2 })
		return ts
	}
	queued := func(n uint32) {
		nstest.Eventually(t, 5*time.Second, fmt.Sprintf("%d queued", n), func() bool {
			ls, err := inspect.Listeners(nil, []uint16{ep.Port()})
			return err == nil && len(ls) == 1 && ls[0].AcceptQueue == n
		})
	}
	start := twoMore(0)
	for range 5 {
		nstest.Connect(t, ep)
	}
	queued(5)
	for range 5 {
		c, _, err := unix.Accept(fd)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(c) })
	}
	queued(0)
	drained := len(traced())
	ts := twoMore(drained)
	var peak uint32
	for _, tr := range ts[len(start) : drained+1] {
		peak = max(peak, tr.IntervalHighWater)
	}
	if peak != 5 {
		t.Errorf("interval_high_water over the intervals of the burst: at most %d, want 5", peak)
	}
	if after := ts[drained+1]; after.IntervalHighWater != 0 || after.IntervalHighWaterFill != 0 || after.AcceptQueueHighWater != 5 {
		t.Errorf("an interval after the burst was accepted: %+v, want interval_high_water 0 and accept_queue_high_water 5", after)
	}
	before := len(traced())
	nstest.Connect(t, ep)
	nstest.Connect(t, ep)
	queued(2)
	waiting := len(traced())
	ts = twoMore(waiting)
	for i, tr := range ts[before:] {
		if tr.IntervalHighWater > 2 || tr.AcceptQueueHighWater != 5 {
			t.Errorf("interval %d after the 2 connected: %+v, want interval_high_water at most 2, accept_queue_high_water 5", before+i, tr)
		}
	}
	if held := ts[waiting+1]; held.IntervalHighWater != 2 || held.IntervalHighWaterFill != 2.0/9 {
		t.Errorf("an interval while 2 waited: %+v, want interval_high_water 2 (fill 2/9)", held)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// Where the kernel refuses the programs: one warning, sampled peaks.
func TestWatchTraceRefused(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	ios, _, _, stderr := iostreams.Test()
	o := &Options{Interval: 50 * time.Millisecond, Duration: 200 * time.Millisecond, Output: "json", Trace: true,
		Collect: collect.Options{OpenTrace: func(trace.Options) (trace.Source, error) { return nil, trace.ErrNoPermission }}}
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

// watch --trace on a stopped server: a memcached stopped with SIGSTOP (no
// --processes) whose queue (backlog 4) 20 clients overflow shows, in its
// JSON, the stall with how long the oldest has waited, its owner in state
// T, and the overflows by site, SYN time too (it once carried only those
// at ACK time); its view shows the STALL column and memcached[PID]:T.
func TestWatchTraceStalledOwner(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	tracetest.Require(t)
	mc := nstest.StartMemcached(t, nstest.MemcachedOpts{Backlog: 4})
	nstest.Stop(t, mc.PID())
	o := &Options{Interval: 300 * time.Millisecond, SampleInterval: 100 * time.Millisecond, Output: "json",
		Ports: []uint{uint(mc.Addr.Port())}, Trace: true}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	out, stop := startWatch(o)
	nstest.Eventually(t, nstest.MinBackstop, "the first JSON line", func() bool { return len(reports(t, out.String())) > 0 })
	for range 20 {
		nstest.Connect(t, mc.Addr)
	}
	var stalled *model.WatchTraced
	var synTime uint64
	nstest.Eventually(t, nstest.MinBackstop, "a stalled report with SYN-time overflows", func() bool {
		synTime = 0
		for _, r := range reports(t, out.String()) {
			tr := r.Listeners[0].Traced
			synTime += tr.OverflowsSynTime
			if tr.Stalled && tr.StalledSeconds >= 1 {
				stalled = tr
			}
		}
		return stalled != nil && synTime > 0
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("memcached[%d]", mc.PID())
	if len(stalled.Owners) != 1 || fmt.Sprintf("%s[%d]", stalled.Owners[0].Comm, stalled.Owners[0].PID) != want ||
		stalled.Owners[0].State != "T (stopped)" || stalled.OldestQueuedSeconds < stalled.StalledSeconds-0.01 {
		t.Errorf("stalled report %+v: want %s in state T, the oldest waiting as long as the stall", stalled, want)
	}
	var frame strings.Builder
	if err := drawReport(&frame, ttyStreams(), &model.WatchReport{Traced: true, Listeners: []model.WatchListener{{
		Listener: model.Listener{Address: "127.0.0.1", Port: mc.Addr.Port(), AcceptQueue: 5, AcceptQueueMax: 4}, Traced: stalled}}}, 0, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(frame.String(), "STALL") || !strings.Contains(frame.String(), want+":T") {
		t.Errorf("view:\n%s\nwant the STALL column and %s:T", frame.String(), want)
	}
}

// watch --trace on a Unix listener (backlog 2, never accepting): the
// interval that saw it fill shows its exact high water 3 (backlog+1) and
// the 4 connect() calls it refused with EAGAIN; summed over the intervals
// the refusals are exactly those made.
func TestWatchTraceUnixRefusals(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	tracetest.Require(t)
	path := t.TempDir() + "/app.sock"
	nstest.ListenUnix(t, unix.SOCK_STREAM, path, 2)
	o := &Options{Interval: 200 * time.Millisecond, SampleInterval: 200 * time.Millisecond, Output: "json",
		Paths: []string{path}, Trace: true}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	out, stop := startWatch(o)
	nstest.Eventually(t, 5*time.Second, "the first JSON line", func() bool { return len(reports(t, out.String())) > 0 })
	if n := nstest.FillUnix(t, unix.SOCK_STREAM, path, 3); n != 3 {
		t.Fatalf("%d queued, want 3", n)
	}
	for range 4 {
		if _, err := nstest.ConnectUnix(t, unix.SOCK_STREAM, path); err != unix.EAGAIN {
			t.Fatalf("connect to the full listener: %v, want EAGAIN", err)
		}
	}
	var refused uint64
	var full bool
	nstest.Eventually(t, 10*time.Second, "the refusals reported", func() bool {
		refused, full = 0, false
		for _, r := range reports(t, out.String()) {
			if len(r.Listeners) != 1 || r.Listeners[0].Traced == nil || r.Listeners[0].Traced.ConnectEAGAIN == nil {
				t.Fatalf("report without a Unix listener's traced refusals: %+v", r)
			}
			tr := r.Listeners[0].Traced
			refused += *tr.ConnectEAGAIN
			full = full || tr.IntervalHighWater == 3 && tr.IntervalHighWaterFill == 1
		}
		return refused >= 4 && full
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if refused != 4 {
		t.Errorf("connect_eagain over the intervals: %d, want 4", refused)
	}
}
