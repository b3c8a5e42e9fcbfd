package advise

import (
	"strings"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/model"
)

func started(p model.Process, at time.Time) model.Process {
	p.StartTime = &at
	return p
}

func TestListenerPredates(t *testing.T) {
	change := model.SysctlChange{Key: "net.core.somaxconn", From: 128, To: 4096, At: time.Unix(2000, 0)}
	early, late := time.Unix(1000, 0), time.Unix(3000, 0)
	for _, tt := range []struct {
		name string
		l    model.Listener
		want Predates
	}{
		{"old clamp, owner started before", lst(80, 0, 128, nil, started(proc(1, "python3", 5, 1024, 1024), early)), PredatesYes},
		{"old clamp, owner started after: may have inherited it", lst(80, 0, 128, nil, started(proc(1, "python3", 5, 1024, 1024), late)), PredatesMaybe},
		{"old clamp, start time unknown", lst(80, 0, 128, nil, proc(1, "python3", 5, 1024, 1024)), PredatesMaybe},
		{"old clamp, no owner seen", lst(80, 0, 128, nil), PredatesMaybe},
		{"another backlog", lst(80, 0, 511, nil, started(proc(1, "nginx", 5, 1024, 1024), early)), PredatesNo},
	} {
		if got := ListenerPredates(tt.l, change); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := ListenerPredates(lst(80, 0, 4096, nil), model.SysctlChange{Key: "net.core.somaxconn", From: 4096, To: 128}); got != PredatesNo {
		t.Errorf("a lowered somaxconn: %v, want no", got)
	}
}

// Without start times the finding hedges instead of asserting.
func TestPredatesFindingHedges(t *testing.T) {
	in := once(with(listening(lst(80, 0, 128, nil, proc(7, "python3", 5, 1024, 1024)))))
	in.Changes = []model.SysctlChange{{Key: "net.core.somaxconn", From: 128, To: 4096, At: time.Unix(2000, 0)}}
	f, ok := FindingByID(Advise(in), "listener-predates-somaxconn-change", "127.0.0.1:80")
	if !ok {
		t.Fatal("no listener-predates-somaxconn-change")
	}
	if strings.Contains(f.Reason, "this listener predates the change") || !strings.Contains(f.Reason, "cannot tell") {
		t.Errorf("reason %q asserts what it cannot know", f.Reason)
	}
	if f.Recommended != nil || f.Key != "" {
		t.Errorf("recommends a sysctl: %+v", f)
	}
}

func TestNotAccepting(t *testing.T) {
	stuck := proc(9, "java", 50, 1024, 1024)
	stuck.State = "D"
	running := proc(9, "java", 50, 1024, 1024)
	running.State = "S"
	opens := func(n uint64) func(*model.Snapshot) { return counter("TcpPassiveOpens", n) }
	runRuleCases(t, []string{"listener-not-accepting"}, []ruleCase{
		{
			name: "queue held, owner in D state: not accepting",
			in:   twice(with(listening(lst(80, 40, 511, p32(0), stuck))), with(opens(100), listening(lst(80, 40, 511, p32(0), stuck)))),
			want: []summary{{"listener-not-accepting", Warning, "127.0.0.1:80", "", nil, nil}},
		},
		{
			name: "queue held, owner sleeping, handshakes completed: it may be accepting as fast as they come",
			in:   twice(with(listening(lst(80, 40, 511, p32(0), running))), with(opens(100), listening(lst(80, 40, 511, p32(0), running)))),
			want: []summary{},
		},
		{
			name: "queue held, no handshake completed: proven, whatever the state",
			in:   twice(with(listening(lst(80, 40, 511, p32(0), running))), with(listening(lst(80, 40, 511, p32(0), running)))),
			want: []summary{{"listener-not-accepting", Warning, "127.0.0.1:80", "", nil, nil}},
		},
		{
			name: "queue drained: accepting",
			in:   twice(with(listening(lst(80, 40, 511, p32(0), stuck))), with(listening(lst(80, 3, 511, p32(0), stuck)))),
			want: []summary{},
		},
		{
			name: "one sample: cannot tell",
			in:   once(with(listening(lst(80, 40, 511, p32(0), stuck)))),
			want: []summary{},
		},
	})
}

// An owner at its soft limit is a finding with an empty queue.
func TestNofileNearLimitWhateverTheQueue(t *testing.T) {
	runRuleCases(t, []string{"nofile-near-limit", "accept-queue-full-at-nofile"}, []ruleCase{
		{
			name: "at the limit, empty queue: critical",
			in:   once(with(listening(lst(80, 0, 511, nil, proc(5, "nginx", 65, 64, 64))))),
			want: []summary{{"nofile-near-limit", Critical, "pid:5", "", p64(64), p64(65536)}},
		},
		{
			name: "within 1% (at least 2): warning",
			in:   once(with(listening(lst(80, 0, 511, nil, proc(5, "nginx", 1014, 1024, 4096))))),
			want: []summary{{"nofile-near-limit", Warning, "pid:5", "", p64(1024), p64(65536)}},
		},
		{
			name: "full queue at the limit: the accept-queue finding only",
			in:   once(with(listening(lst(80, 512, 511, nil, proc(5, "nginx", 1024, 1024, 4096))))),
			want: []summary{{"accept-queue-full-at-nofile", Critical, "pid:5", "", p64(1024), p64(65536)}},
		},
		{
			name: "far from it: nothing",
			in:   once(with(listening(lst(80, 0, 511, nil, proc(5, "nginx", 100, 1024, 4096))))),
			want: []summary{},
		},
	})
}

func TestTotalsSayWhenCountersStarted(t *testing.T) {
	for _, tt := range []struct {
		child, unknown bool
		want, not      string
	}{
		{false, false, "since boot", "namespace"},
		{true, false, "since this network namespace was created", "since boot"},
		{false, true, "since boot (or since this network namespace was created", ""},
	} {
		in := once(with(counter("TcpExtListenOverflows", 5)))
		in.ChildNetns, in.NetnsUnknown = tt.child, tt.unknown
		f, _ := FindingByID(Advise(in), "listen-overflows-since-boot", "")
		if !strings.Contains(f.Reason, tt.want) || tt.not != "" && strings.Contains(f.Reason, tt.not) {
			t.Errorf("child=%v unknown=%v: reason %q, want %q and not %q", tt.child, tt.unknown, f.Reason, tt.want, tt.not)
		}
	}
}
