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
			[]tracedSummary{{"traced-accept-errors", Critical, "pid:4242"}}, "nginx[4242] got EMFILE 21 times in 2.0s: it is at its descriptor limit"},
		{"overflow, program's own backlog", tracedInput(4096, &model.Traced{
			HighWater: 65, HighWaterAt: at, Overflows: model.Overflows{AckTime: 3, SynTime: 26}}),
			[]tracedSummary{{"traced-queue-overflow", Critical, "127.0.0.1:80"}}, "the queue reached 65 of 65 at 12:01:03.4 (29 overflows: 3 at final-ACK time, 0 at SYN-cookie ACKs, 26 at SYN time)"},
		{"overflow, slow acceptor", tracedInput(4096, &model.Traced{
			HighWater: 65, Overflows: model.Overflows{AckTime: 1}, AcceptWait: waits(27, 100, 300*time.Millisecond)}),
			[]tracedSummary{{"traced-queue-overflow", Critical, "127.0.0.1:80"}}, "p99 accept wait 268 ms: the acceptor is slow, not the backlog"},
		{"slow acceptor without overflow", tracedInput(4096, &model.Traced{
			HighWater: 12, AcceptWait: waits(27, 100, 200*time.Millisecond)}),
			[]tracedSummary{{"traced-slow-acceptor", Warning, "127.0.0.1:80"}}, "p99 accept wait 200 ms (max 200 ms, 100 accepted)"},
		{"stall with the owner's state", tracedInput(4096, &model.Traced{HighWater: 40,
			Stall: model.Stall{Held: 5 * time.Second, Queue: 40, Owners: []model.TracedOwner{{PID: 4242, Comm: "nginx", State: "T (stopped)"}}}}),
			[]tracedSummary{{"traced-stall", Critical, "127.0.0.1:80"}}, "nginx[4242] accepted nothing for 5.0s with 40 waiting (state: T (stopped))"},
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
	// under SIGSTOP): no bigger backlog, whether somaxconn clamps it or not.
	for _, somax := range []int64{64, 4096} {
		stalled := clamped()
		stalled.Stall = model.Stall{Held: 3 * time.Second, Queue: 65}
		in := tracedInput(somax, stalled)
		f, ok := FindingByID(Advise(in), "traced-queue-overflow", "127.0.0.1:80")
		if !ok || f.Key != "" || f.Recommended != nil || !strings.Contains(f.Reason, "accepted nothing for 3.0s with 65 waiting") {
			t.Errorf("somaxconn %d: stalled listener's overflow finding %+v recommends a change or hides the stall", somax, f)
		}
		if plan := PlanFindings(Advise(in)); len(plan.Changes) != 0 {
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
// accept() and get EMFILE is descriptor exhaustion: listener-not-accepting
// says so and gives the descriptor fix, never "does not call accept()".
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
	f, ok := FindingByID(Advise(in), "listener-not-accepting", "127.0.0.1:80")
	if !ok {
		t.Fatal("no listener-not-accepting finding")
	}
	if strings.Contains(f.Reason, "does not call accept()") {
		t.Errorf("reason %q says accept() is not called; the trace saw it fail", f.Reason)
	}
	if !strings.Contains(f.Reason, "nginx[4242] got EMFILE 21 times in 10.0s") || !strings.Contains(f.Reason, "out of file descriptors") {
		t.Errorf("reason %q, want the EMFILE failures named", f.Reason)
	}
	if !strings.Contains(f.Fix, "RLIMIT_NOFILE") {
		t.Errorf("fix %q, want the descriptor limit raised", f.Fix)
	}
}
