package advise

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func tracedInput(somaxconn int64, ls ...TracedListener) Input {
	in := once(with(setSysctl("net.core.somaxconn", somaxconn),
		listening(lst(80, 0, 64, nil, proc(4242, "nginx", 10, 1024, 4096)))))
	in.Trace = &TraceEvidence{Seconds: 2, Listeners: ls}
	return in
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
		{"EMFILE per owner", tracedInput(4096, TracedListener{Address: "127.0.0.1", Port: 80, Backlog: 64,
			AcceptErrors: []TracedAcceptErrors{{PID: 4242, Comm: "nginx", Errno: "EMFILE", Count: 21}}}),
			[]tracedSummary{{"traced-accept-errors", Critical, "pid:4242"}}, "nginx[4242] got EMFILE 21 times in 2.0s: it is at its descriptor limit"},
		{"overflow, program's own backlog", tracedInput(4096, TracedListener{Address: "127.0.0.1", Port: 80, Backlog: 64,
			HighWater: 65, HighWaterAt: at, OverflowsAckTime: 3, OverflowsSynTime: 26}),
			[]tracedSummary{{"traced-queue-overflow", Critical, "127.0.0.1:80"}}, "the queue reached 65 of 65 at 12:01:03.4 (3 overflows at final-ACK time, 26 at SYN time)"},
		{"overflow, slow acceptor", tracedInput(4096, TracedListener{Address: "127.0.0.1", Port: 80, Backlog: 64,
			HighWater: 65, OverflowsAckTime: 1, AcceptWaitCount: 100, AcceptWaitP99: 0.268435456}),
			[]tracedSummary{{"traced-queue-overflow", Critical, "127.0.0.1:80"}}, "p99 accept wait 268 ms: the acceptor is slow, not the backlog"},
		{"slow acceptor without overflow", tracedInput(4096, TracedListener{Address: "127.0.0.1", Port: 80, Backlog: 64,
			HighWater: 12, AcceptWaitCount: 100, AcceptWaitP99: 0.18, AcceptWaitMax: 0.2}),
			[]tracedSummary{{"traced-slow-acceptor", Warning, "127.0.0.1:80"}}, "p99 accept wait 180 ms"},
		{"stall with the owner's state", tracedInput(4096, TracedListener{Address: "127.0.0.1", Port: 80, Backlog: 511,
			HighWater: 401, StallSeconds: 5, StallQueue: 401, StallOwners: []TracedOwner{{PID: 4242, Comm: "nginx", State: "T (stopped)"}}}),
			[]tracedSummary{{"traced-stall", Critical, "127.0.0.1:80"}}, "nginx[4242] accepted nothing for 5.0s with 401 waiting (state: T (stopped))"},
		{"nothing happened", tracedInput(4096, TracedListener{Address: "127.0.0.1", Port: 80, Backlog: 64, HighWater: 3}), nil, ""},
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
	clamped := TracedListener{Address: "127.0.0.1", Port: 80, Backlog: 64, HighWater: 65, OverflowsAckTime: 2}
	plan := PlanFindings(Advise(tracedInput(64, clamped)))
	if len(plan.Changes) != 1 || plan.Changes[0].Key != "net.core.somaxconn" || plan.Changes[0].Target != DefaultSomaxconn {
		t.Errorf("plan %+v, want somaxconn raised to %d", plan.Changes, DefaultSomaxconn)
	}
	slow := clamped
	slow.AcceptWaitCount, slow.AcceptWaitP99 = 10, 0.5
	if f, ok := FindingByID(Advise(tracedInput(64, slow)), "traced-queue-overflow", "127.0.0.1:80"); !ok || f.Key != "" {
		t.Errorf("slow acceptor's overflow finding %+v names a key", f)
	}
	// A queue that overflowed because its owner stopped accepting (nginx
	// under SIGSTOP): no bigger backlog, whether somaxconn clamps it or not.
	for _, somax := range []int64{64, 4096} {
		stalled := clamped
		stalled.StallSeconds, stalled.StallQueue = 3, 65
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
	in := tracedInput(4096)
	in.Sizing = &Sizing{Rate: 1000, AcceptLatency: time.Millisecond}
	in.Trace.SizingMeasured = []string{"rate (127.0.0.1:80)"}
	f, ok := FindingByID(Advise(in), "backlog-sizing", "")
	if !ok || !strings.HasSuffix(f.Reason, "Measured by tracing over 2.0s: rate (127.0.0.1:80); the other was given.") {
		t.Errorf("sizing finding %+v", f)
	}
	l := TracedListener{Enqueued: 90, OverflowsSynTime: 10, AcceptWaitCount: 4, AcceptWaitSum: 0.004}
	if r, w := l.ArrivalRate(2), l.MeanAcceptWait(); r != 50 || w != time.Millisecond {
		t.Errorf("rate %v wait %v, want 50/s and 1ms", r, w)
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
