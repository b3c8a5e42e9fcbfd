package advise

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/model"
)

// tracedInput is a window of 2s traced with eBPF, at nginx's listener on
// 127.0.0.1:80 (backlog 64), with the evidence t.
func tracedInput(somaxconn int64, t *model.Traced) Input {
	in := once(with(setSysctl("net.core.somaxconn", somaxconn),
		listening(lst(80, 0, 64, nil, proc(4242, "nginx", 10, 1024, 4096)))))
	in.Now.Snapshot.Listeners[0].Traced = t
	in.TraceSeconds, in.TraceStall = 2, time.Second
	return in
}

// waits is an accept-wait histogram of count waits in log2 bucket i, the
// longest of them maxWait.
func waits(i int, count uint64, maxWait time.Duration) model.WaitHistogram {
	h := model.WaitHistogram{Count: count, SumNs: count << i, MaxNs: uint64(maxWait)}
	h.Buckets[i] = count
	return h
}

func TestTracedFindings(t *testing.T) {
	at := time.Date(2026, 11, 29, 12, 1, 3, 400_000_000, time.Local)
	tests := []struct {
		name string
		in   Input
		want []tracedSummary
		// reason is a substring of the first traced finding's reason.
		reason string
	}{
		{"EMFILE per owner", tracedInput(4096, &model.Traced{
			AcceptErrors: []model.AcceptErrors{{PID: 4242, Comm: "nginx", Errno: "EMFILE", Count: 21}}}),
			[]tracedSummary{{"traced-accept-errors", Critical, "pid:4242"}}, "nginx[4242] got EMFILE 21 times in 2.0s, accepting on 127.0.0.1:80: it is at its descriptor limit"},
		{"overflow, program's own backlog", tracedInput(4096, &model.Traced{
			HighWater: 65, HighWaterAt: at, Overflows: model.Overflows{AckTime: 3, SynTime: 26}}),
			[]tracedSummary{{"traced-queue-overflow", Critical, "127.0.0.1:80"}}, "the queue was full, first at 12:01:03.4: it reached 65 of 65 (backlog+1); 29 overflows (3 at final-ACK time, 26 at SYN time); no accept() completed in the window."},
		{"overflow, slow acceptor", tracedInput(4096, &model.Traced{
			HighWater: 65, Overflows: model.Overflows{AckTime: 1}, AcceptWait: waits(27, 100, 300*time.Millisecond)}),
			[]tracedSummary{{"traced-queue-overflow", Critical, "127.0.0.1:80"}}, "p99 accept wait 268 ms over 100 accepted. The acceptor is slow, not the backlog."},
		{"slow acceptor without overflow", tracedInput(4096, &model.Traced{
			HighWater: 12, AcceptWait: waits(27, 100, 200*time.Millisecond)}),
			[]tracedSummary{{"traced-slow-acceptor", Warning, "127.0.0.1:80"}}, "p99 accept wait 200 ms (max 200 ms, 100 accepted)"},
		{"stall with the owner's state", tracedInput(4096, &model.Traced{HighWater: 40,
			Stall: model.Stall{Held: 5 * time.Second, Queue: 40, Owners: []model.TracedOwner{{PID: 4242, Comm: "nginx", State: "T (stopped)"}}}}),
			[]tracedSummary{{"traced-stall", Critical, "127.0.0.1:80"}}, "nginx[4242] accepted nothing for 5.0s with 40 waiting (state during the stall: T (stopped))"},
		{"a hold shorter than the stall threshold", tracedInput(4096, &model.Traced{HighWater: 3,
			Stall: model.Stall{Held: 900 * time.Millisecond, Queue: 3}}), nil, ""},
		{"nothing happened", tracedInput(4096, &model.Traced{HighWater: 3}), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := only(Advise(tt.in), "traced-accept-errors", "traced-queue-overflow", "traced-stall", "traced-slow-acceptor")
			if diff := cmp.Diff(tt.want, summarizeTraced(got)); diff != "" {
				t.Fatalf("(-want +got)\n%s", diff)
			}
			if len(got) > 0 && !strings.Contains(got[0].Reason, tt.reason) {
				t.Errorf("reason %q does not contain %q", got[0].Reason, tt.reason)
			}
		})
	}
}

// An overflow at a listener clamped by somaxconn plans somaxconn; one whose
// acceptor is slow plans nothing.
func TestTracedOverflowPlan(t *testing.T) {
	clamped := func() *model.Traced { return &model.Traced{HighWater: 65, Overflows: model.Overflows{AckTime: 2}} }
	plan := PlanFindings(Advise(tracedInput(64, clamped())))
	if len(plan.Changes) != 1 || plan.Changes[0].Key != "net.core.somaxconn" || plan.Changes[0].Target != DefaultSomaxconn {
		t.Errorf("plan %+v, want somaxconn raised to %d", plan.Changes, DefaultSomaxconn)
	}
	slow := clamped()
	slow.AcceptWait = waits(28, 10, time.Second)
	if f, ok := FindingByID(Advise(tracedInput(64, slow)), "traced-queue-overflow", "127.0.0.1:80"); !ok || f.Key != "" {
		t.Errorf("slow acceptor's overflow finding %+v names a key", f)
	}
	// A queue that overflowed because its owner stopped accepting (nginx
	// under SIGSTOP): the stall is the verdict, the overflow folded into
	// it, and no bigger backlog, whether somaxconn clamps it or not.
	for _, somax := range []int64{64, 4096} {
		stalled := clamped()
		stalled.Stall = model.Stall{Held: 3 * time.Second, Queue: 65}
		in := tracedInput(somax, stalled)
		fs := Advise(in)
		if _, ok := FindingByID(fs, "traced-queue-overflow", "127.0.0.1:80"); ok {
			t.Errorf("somaxconn %d: the overflow is a finding of its own beside the stall: %v", somax, fs)
		}
		f, ok := FindingByID(fs, "traced-stall", "127.0.0.1:80")
		if !ok || f.Key != "" || f.Recommended != nil || !strings.Contains(f.Reason, "accepted nothing for 3.0s with 65 waiting") ||
			!strings.Contains(f.Reason, "The queue was full: it reached 65 of 65 (backlog+1); 2 overflows") || !slices.Contains(f.Folded, "traced-queue-overflow") {
			t.Errorf("somaxconn %d: stalled listener's verdict %+v recommends a change or hides the overflow", somax, f)
		}
		if plan := PlanFindings(fs); len(plan.Changes) != 0 {
			t.Errorf("somaxconn %d: a stalled listener's overflows plan %+v", somax, plan.Changes)
		}
	}
}

func TestMeasuredSizingNote(t *testing.T) {
	in := tracedInput(4096, &model.Traced{})
	in.Sizing = &Sizing{Rate: 1000, AcceptLatency: time.Millisecond}
	in.SizingMeasured = []string{"rate (127.0.0.1:80)"}
	f, ok := FindingByID(Advise(in), "backlog-sizing", "")
	if !ok || !strings.HasSuffix(f.Reason, "Measured by tracing over 2.0s: rate (127.0.0.1:80); the other was given.") {
		t.Errorf("sizing finding %+v", f)
	}
}

// Sizing takes what --rate and --accept-latency leave out from the busiest
// traced listener: its arrival rate (enqueued and overflowed per second)
// and mean wait; a listener that stalled gives no wait to size from.
func TestMeasureSizing(t *testing.T) {
	busy := &model.Traced{Enqueued: 90, Overflows: model.Overflows{SynTime: 10}, AcceptWait: model.WaitHistogram{Count: 4, SumNs: 4e6}}
	in := tracedInput(4096, busy)
	MeasureSizing(&in, 0, false, 0, false)
	if in.Sizing == nil || in.Sizing.Rate != 50 || in.Sizing.AcceptLatency != time.Millisecond {
		t.Fatalf("sizing %+v, want 50/s and 1ms", in.Sizing)
	}
	if want := []string{"rate (127.0.0.1:80)", "accept_latency (mean wait)"}; !slices.Equal(in.SizingMeasured, want) {
		t.Errorf("measured %q, want %q", in.SizingMeasured, want)
	}
	busy.Stall = model.Stall{Held: 2 * time.Second, Queue: 3}
	in = tracedInput(4096, busy)
	MeasureSizing(&in, 0, false, 0, false)
	if in.Sizing != nil {
		t.Errorf("a stalled listener sized %+v; its waits say how long nobody accepted", in.Sizing)
	}
	MeasureSizing(&in, 0, false, 5*time.Millisecond, true)
	if in.Sizing == nil || in.Sizing.Rate != 50 || !slices.Equal(in.SizingMeasured, []string{"rate (127.0.0.1:80)"}) {
		t.Errorf("with --accept-latency: sizing %+v measured %q, want the rate measured", in.Sizing, in.SizingMeasured)
	}
}

type tracedSummary struct {
	ID       string
	Severity Severity
	Subject  string
}

func summarizeTraced(fs []Finding) []tracedSummary {
	var out []tracedSummary
	for _, f := range fs {
		out = append(out, tracedSummary{f.ID, f.Severity, f.Subject})
	}
	return out
}

// A queue that holds connections while the trace saw its owner call
// accept() and get EMFILE is descriptor exhaustion: one verdict,
// traced-accept-errors, with the not-accepting evidence folded into it and
// the owner's own descriptor fix, never "does not call accept()".
func TestNotAcceptingAtEMFILE(t *testing.T) {
	owner := proc(4242, "nginx", 64, 64, 64)
	before := once(with(listening(lst(80, 20, 511, nil, owner))))
	in := once(with(listening(lst(80, 23, 511, nil, owner))))
	in.Before, in.Interval = &before.Now, 300*time.Millisecond
	in.Now.Snapshot.Counters = map[string]uint64{"TcpPassiveOpens": 0}
	before.Now.Snapshot.Counters = map[string]uint64{"TcpPassiveOpens": 0}
	in.TraceSeconds, in.TraceStall = 10, time.Second
	in.Now.Snapshot.Listeners[0].Traced = &model.Traced{HighWater: 23,
		AcceptErrors: []model.AcceptErrors{{PID: 4242, Comm: "nginx", Errno: "EMFILE", Count: 21}}}
	fs := Advise(in)
	if f, ok := FindingByID(fs, "listener-not-accepting", "127.0.0.1:80"); ok {
		t.Fatalf("a listener-not-accepting finding beside the EMFILE one: %+v", f)
	}
	f, ok := FindingByID(fs, "traced-accept-errors", "127.0.0.1:80")
	if !ok {
		t.Fatalf("no traced-accept-errors verdict in %v", fs)
	}
	if strings.Contains(f.Reason, "does not call accept()") || f.Subject != "pid:4242" || !slices.Contains(f.Folded, "listener-not-accepting") {
		t.Errorf("verdict %+v", f)
	}
	if !strings.Contains(f.Reason, "nginx[4242] got EMFILE 21 times in 10.0s") || !strings.Contains(f.Reason, "descriptor exhaustion") {
		t.Errorf("reason %q, want the EMFILE failures named", f.Reason)
	}
	if !strings.Contains(f.Fix, "worker_rlimit_nofile 65536") || !strings.Contains(f.Fix, "backlogctl rlimit set --pid 4242") {
		t.Errorf("fix %q, want nginx's own descriptor fix", f.Fix)
	}
	if len(fs) != 1 {
		t.Errorf("findings %v, want the one verdict (nofile-near-limit folded into it)", fs)
	}
}

// Sizing measured from a listener whose queue overflowed may come out
// below its backlog (a burst, and a mean that does not see it): no finding
// then recommends less than the backlog, and every one that names a
// backlog names the same, above what overflowed (backlog-sizing once said
// 1 beside a traced overflow's 128).
func TestMeasuredSizingNeverLowers(t *testing.T) {
	tr := &model.Traced{HighWater: 65, Enqueued: 2, Overflows: model.Overflows{SynTime: 30}, AcceptWait: waits(10, 2, time.Microsecond)}
	in := tracedInput(4096, tr)
	in.Before = &model.Sample{Snapshot: with(listening(lst(80, 0, 64, p32(0))))}
	in.Now.Snapshot.Listeners[0].Drops = p32(30)
	in.Interval = 2 * time.Second
	MeasureSizing(&in, 0, false, 0, false)
	if in.Sizing == nil || in.Sizing.Backlog() >= 64 {
		t.Fatalf("sizing %+v: the test wants a measured load that sizes below the backlog", in.Sizing)
	}
	fs := Advise(in)
	var wants []int64
	for _, f := range fs {
		if f.Recommended != nil && f.Key == "" {
			wants = append(wants, *f.Recommended)
		}
	}
	slices.Sort(wants)
	if wants = slices.Compact(wants); len(wants) != 1 || wants[0] <= 64 {
		t.Errorf("recommended backlogs %v: want one, above the 64 that overflowed; findings %v", wants, fs)
	}
	if f, ok := FindingByID(fs, "backlog-sizing", ""); !ok || !strings.Contains(f.Reason, "yet its queue filled in the window") {
		t.Errorf("sizing finding %+v does not say why it is above the measured load", f)
	}
}

// A listener whose verdict is a slow acceptor gets no backlog fix; the
// sizing measured from it says so instead of offering a backlog as if it
// were the fix.
func TestSizingBesideASlowAcceptor(t *testing.T) {
	tr := &model.Traced{HighWater: 65, Enqueued: 4000, Overflows: model.Overflows{AckTime: 5}, AcceptWait: waits(27, 4000, 200*time.Millisecond)}
	in := tracedInput(4096, tr)
	MeasureSizing(&in, 0, false, 0, false)
	fs := Advise(in)
	v, ok := FindingByID(fs, "traced-queue-overflow", "127.0.0.1:80")
	if !ok || v.Recommended != nil || !strings.Contains(v.Reason, "The acceptor is slow") {
		t.Fatalf("verdict %+v, want a slow acceptor with no backlog", v)
	}
	s, ok := FindingByID(fs, "backlog-sizing", "")
	if !ok || !strings.Contains(s.Reason, "what limits 127.0.0.1:80 is not its backlog (traced-queue-overflow)") {
		t.Errorf("sizing %+v does not say the backlog is not what limits the listener", s)
	}
}
