package check

import (
	"strings"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/model"

	"github.com/google/go-cmp/cmp"
)

// tracedFixture is fixture() observed over a traced window: :80 overflowed
// and stalled, nginx got EMFILE.
func tracedFixture() *model.Observation {
	obs := fixture()
	obs.Window = &model.WindowInfo{Duration: 10 * time.Second, Interval: 100 * time.Millisecond, Samples: 100}
	slow := &model.Traced{HighWater: 512, Overflows: model.Overflows{SynTime: 2, AckTime: 10},
		AcceptWait: model.WaitHistogram{Count: 100, MaxNs: 300e6}, Stall: model.Stall{Held: 5 * time.Second, Queue: 512}}
	slow.AcceptWait.Buckets[27] = 100 // p99 at most 2^28 ns
	fast := &model.Traced{HighWater: 3, AcceptWait: model.WaitHistogram{Count: 50, MaxNs: 20e3},
		UnixTraced: model.UnixTraced{ConnectEAGAIN: 7}}
	fast.AcceptWait.Buckets[13] = 50
	obs.Listeners[0].Traced = []model.Listener{{AcceptQueueMax: 511, Traced: slow}}
	obs.Listeners[1].Traced = []model.Listener{{AcceptQueueMax: 4095, Traced: fast}}
	obs.Trace = &model.TraceStatus{Traced: true, Stall: time.Second,
		Owners: []model.TracedOwner{{PID: 4242, Comm: "nginx"}, {PID: 5151, Comm: "app"}},
		AcceptErrors: []model.AcceptErrors{{PID: 4242, Comm: "nginx", Errno: "EMFILE", Count: 21},
			{PID: 4242, Comm: "nginx", Errno: "ENFILE", Count: 1}}}
	return obs
}

func TestTracedSubjects(t *testing.T) {
	tests := []struct {
		expr string
		want verdict
	}{
		{"listener.accept_wait_p99<0.01", verdict{StatusFail, "0.268435456", "0.0.0.0:80", []string{"0.0.0.0:80=0.268435456"}}},
		{"listener.accept_wait_max<=0.3", verdict{StatusPass, "0.3", "0.0.0.0:80", nil}},
		{"listener.high_water_fill<1", verdict{StatusFail, "1", "0.0.0.0:80", []string{"0.0.0.0:80=1"}}},
		{"listener.overflows==0", verdict{StatusFail, "12", "0.0.0.0:80", []string{"0.0.0.0:80=12"}}},
		{"listener.stalled==0", verdict{StatusFail, "1", "0.0.0.0:80", []string{"0.0.0.0:80=1"}}},
		{"listener.connect_eagain==0", verdict{StatusFail, "7", "127.0.0.1:8080", []string{"127.0.0.1:8080=7"}}},
		{"process.accept_errors==0", verdict{StatusFail, "22", "nginx[4242]", []string{"nginx[4242]=22"}}},
		{"process.accept_errors.EMFILE<=20", verdict{StatusFail, "21", "nginx[4242]", []string{"nginx[4242]=21"}}},
		{"process.accept_errors.ENOBUFS==0", verdict{StatusPass, "0", "nginx[4242]", nil}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			r := evalOne(t, tt.expr, tracedFixture(), MissingError)
			got := verdict{r.Status, string(r.Observed), r.Where, r.Failing}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
			if !r.Windowed {
				t.Error("a traced subject is judged over the window")
			}
			if r.Status == StatusFail && strings.Contains(r.Reason, "outside the requirement") {
				t.Errorf("reason %q names no kernel fact", r.Reason)
			}
		})
	}
}

// Without a traced window the traced subjects are not evaluated, and say why.
func TestTracedSubjectsUntraced(t *testing.T) {
	sampled := fixture()
	sampled.Window = &model.WindowInfo{Duration: time.Second}
	refused := fixture()
	refused.Window = &model.WindowInfo{Duration: time.Second}
	refused.Trace = &model.TraceStatus{Error: "loading eBPF programs was refused"}
	for _, tt := range []struct {
		name string
		obs  *model.Observation
		want string
	}{
		{"snapshot", fixture(), "give --observe"},
		{"sampled window", sampled, "needs the --observe window traced"},
		{"refused", refused, "unavailable here: loading eBPF programs was refused"},
	} {
		r := evalOne(t, "listener.accept_wait_p99<0.01", tt.obs, MissingError)
		if r.Evaluated || r.Status != StatusError || !strings.Contains(r.Reason, tt.want) {
			t.Errorf("%s: %+v, want an error saying %q", tt.name, r, tt.want)
		}
	}
}

func TestParseTracedSubjects(t *testing.T) {
	for _, name := range []string{"listener.accept_wait_p99", "listener.stalled", "process.accept_errors", "process.accept_errors.EMFILE"} {
		s, err := ParseSubject(name)
		if err != nil || !s.Traced() || s.Name() != name {
			t.Errorf("ParseSubject(%q) = %+v, %v", name, s, err)
		}
	}
	for _, name := range []string{"process.accept_errors.", "process.accept_errors.emfile", "process.accept_errors.X1"} {
		if _, err := ParseSubject(name); err == nil {
			t.Errorf("ParseSubject(%q) accepted", name)
		}
	}
	if s, _ := ParseSubject("listener.fill"); s.Traced() {
		t.Error("listener.fill is sampled, not traced")
	}
}
