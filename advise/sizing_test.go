package advise

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/model"

	"github.com/google/go-cmp/cmp"
)

func TestSizingBacklog(t *testing.T) {
	tests := []struct {
		rate    float64
		latency time.Duration
		mean    float64
		want    int64
	}{
		{1000, 100 * time.Millisecond, 100, 256}, // 100 × 2 = 200 -> 256
		{1000, 64 * time.Millisecond, 64, 128},   // exactly a power of two stays
		{5000, time.Second, 5000, 16384},         // 10000 -> 16384
		{10, time.Millisecond, 0.01, 1},          // never below 1
		{1e12, time.Hour, 3.6e15, math.MaxInt32}, // capped at somaxconn's maximum
	}
	for _, tt := range tests {
		s := Sizing{Rate: tt.rate, AcceptLatency: tt.latency}
		if got := s.MeanQueue(); math.Abs(got-tt.mean) > 1e-9*tt.mean {
			t.Errorf("%v/s × %v: mean queue = %v, want %v", tt.rate, tt.latency, got, tt.mean)
		}
		if got := s.Backlog(); got != tt.want {
			t.Errorf("%v/s × %v: backlog = %d, want %d", tt.rate, tt.latency, got, tt.want)
		}
	}
}

func TestSizingValidate(t *testing.T) {
	for _, s := range []Sizing{{-1, time.Second}, {0, time.Second}, {math.NaN(), time.Second}, {math.Inf(1), time.Second}, {10, 0}, {10, -time.Second}} {
		if s.Validate() == nil {
			t.Errorf("Validate(%+v) = nil, want an error", s)
		}
	}
	if err := (Sizing{10, time.Millisecond}).Validate(); err != nil {
		t.Errorf("Validate(10/s, 1ms) = %v", err)
	}
}

func TestSizingFindings(t *testing.T) {
	ids := []string{"backlog-sizing", "somaxconn-below-sizing", "listener-below-sizing"}
	sizing := &Sizing{Rate: 1000, AcceptLatency: time.Second} // 1000 × 2 -> 2048
	tests := []struct {
		name string
		snap Input
		want []summary
	}{
		{
			name: "somaxconn and both listeners below: each named",
			snap: once(with(setSysctl("net.core.somaxconn", 1024),
				listening(lst(80, 0, 1024, nil), lst(81, 0, 511, nil, proc(3, "nginx", 1, 1024, 1024))))),
			want: []summary{
				{"listener-below-sizing", Warning, "127.0.0.1:80", "", p64(1024), p64(2048)},
				{"listener-below-sizing", Warning, "127.0.0.1:81", "", p64(511), p64(2048)},
				{"somaxconn-below-sizing", Warning, "net.core.somaxconn", "net.core.somaxconn", p64(1024), p64(2048)},
				{"backlog-sizing", Info, "sizing", "", nil, p64(2048)},
			},
		},
		{
			// Never a recommendation below what the one listener has.
			name: "enough everywhere: only the computation, at the listener's backlog",
			snap: once(with(listening(lst(80, 0, 4096, nil)))),
			want: []summary{{"backlog-sizing", Info, "sizing", "", nil, p64(4096)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.snap.Sizing = sizing
			fs := only(Advise(tt.snap), ids...)
			if diff := cmp.Diff(tt.want, summarize(fs)); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
	fs := Advise(Input{Now: model.Sample{Snapshot: with(setSysctl("net.core.somaxconn", 1024), listening(lst(81, 0, 511, nil, proc(3, "nginx", 1, 1024, 1024))))}, Sizing: sizing})
	f, _ := FindingByID(fs, "backlog-sizing", "")
	if !strings.Contains(f.Reason, "Little's law") || !strings.Contains(f.Reason, "×2") || f.Evidence["headroom_factor"] != 2 {
		t.Errorf("sizing finding does not explain Little's law and the ×2 headroom: %q %v", f.Reason, f.Evidence)
	}
	l, _ := FindingByID(fs, "listener-below-sizing", "127.0.0.1:81")
	if !strings.Contains(l.Fix, "backlog=2048") || !strings.Contains(l.Fix, "somaxconn (1024) must also be raised") {
		t.Errorf("listener fix = %q, want nginx's backlog= and the somaxconn note", l.Fix)
	}
}

// A load no backlog can hold is capped at INT_MAX, and says so; a product
// too large for a float still gives JSON (which has no Inf).
func TestSizingCapped(t *testing.T) {
	for _, s := range []Sizing{
		{Rate: 1e30, AcceptLatency: time.Millisecond},
		{Rate: 1e308, AcceptLatency: 10 * time.Second},
		{Rate: 2e9, AcceptLatency: time.Second},
	} {
		if got := s.Backlog(); got != math.MaxInt32 || !s.Capped() {
			t.Errorf("%+v: Backlog %d, capped %v; want %d, capped", s, got, s.Capped(), math.MaxInt32)
		}
		in := once(with(listening(lst(80, 0, 4096, nil))))
		in.Sizing = &s
		var sizing *Finding
		fs := Advise(in)
		for i := range fs {
			if fs[i].ID == "backlog-sizing" {
				sizing = &fs[i]
			}
		}
		if sizing == nil || !strings.Contains(sizing.Reason, "capped at 2147483647") || *sizing.Recommended != math.MaxInt32 {
			t.Fatalf("%+v: sizing finding %+v; want it capped at INT_MAX, saying so", s, sizing)
		}
		if _, err := json.Marshal(fs); err != nil {
			t.Errorf("%+v: findings do not encode as JSON: %v", s, err)
		}
	}
	if s := (Sizing{Rate: 1000, AcceptLatency: 5 * time.Millisecond}); s.Capped() || s.Backlog() != 16 {
		t.Errorf("an ordinary load: capped %v, backlog %d", s.Capped(), s.Backlog())
	}
}
