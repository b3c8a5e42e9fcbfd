package advise

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/model"
)

// unixTracedInput is a 4s traced window at the Unix listener l with the
// evidence t, under somaxconn.
func unixTracedInput(somaxconn int64, l model.Listener, t *model.Traced) Input {
	in := once(with(setSysctl("net.core.somaxconn", somaxconn), listening(l)))
	in.Now.Snapshot.Listeners[0].Traced = t
	in.TraceSeconds, in.TraceStall = 4, time.Second
	return in
}

func refused(n uint64, rs ...model.ConnectRefusal) *model.Traced {
	t := &model.Traced{HighWater: 9, UnixTraced: model.UnixTraced{ConnectEAGAIN: n, ConnectRefusals: rs}}
	return t
}

// A Unix listener's full queue as tracing saw it: the EAGAIN refusals
// named, by client, with the pool's own listen.backlog as the fix; blocked
// connects without refusals; a queue seen full with neither; a full queue
// at somaxconn plans somaxconn; a stalled owner is blamed instead of the
// backlog; nothing when the queue never filled. The subject is the path.
func TestUnixTracedFindings(t *testing.T) {
	fpm := withConf(ulst(9, 8, fpmMaster("S")), fpmConf)
	stalled := refused(57)
	stalled.Stall = model.Stall{Held: 3 * time.Second, Queue: 9, Owners: []model.TracedOwner{{PID: 10, Comm: "php-fpm8.2", State: "T (stopped)"}}}
	tests := []struct {
		name   string
		in     Input
		want   []tracedSummary
		reason []string
		fix    string
		plan   string
	}{
		{"refused: the pool's listen.backlog", unixTracedInput(4096, fpm, refused(57, model.ConnectRefusal{PID: 101, Comm: "nginx", Count: 30},
			model.ConnectRefusal{PID: 102, Comm: "nginx", Count: 27})),
			[]tracedSummary{{"traced-connect-refused", Critical, fpmSock}},
			[]string{"connect() to it failed with EAGAIN 57 times in 4.0s (nginx[101] 30, nginx[102] 27), because its queue reached 9 of backlog+1 = 9",
				`nginx logs "connect() to unix:` + fpmSock + ` failed (11: Resource temporarily unavailable)"`,
				"Its backlog is the program's own: PHP-FPM sets listen.backlog = 8 (/etc/php/8.2/fpm/pool.d/www.conf:5)."},
			"PHP-FPM: raise `listen.backlog = 32`", ""},
		{"blocked connects only", unixTracedInput(4096, fpm, &model.Traced{HighWater: 9,
			UnixTraced: model.UnixTraced{ConnectBlocked: model.ConnectWait{Count: 3, SumNs: 3e9, MaxNs: 1.5e9}}}),
			[]tracedSummary{{"traced-connect-blocked", Warning, fpmSock}},
			[]string{"3 blocking connect() calls to it waited for room in its full queue in 4.0s, up to 1.50 s each"}, "listen.backlog = 32", ""},
		{"seen full, nobody refused", unixTracedInput(4096, fpm, &model.Traced{HighWater: 9}),
			[]tracedSummary{{"traced-queue-full", Warning, fpmSock}}, []string{"Its queue reached 9 of backlog+1 = 9"}, "listen.backlog = 32", ""},
		{"at somaxconn: the clamp", unixTracedInput(128, withConf(ulst(129, 128, fpmMaster("S")), model.ConfiguredBacklog{Program: "PHP-FPM",
			Setting: "listen.backlog", Value: -1, Source: "/etc/php/8.2/fpm/pool.d/www.conf:5"}), func() *model.Traced {
			t := refused(5)
			t.HighWater = 129
			return t
		}()),
			[]tracedSummary{{"traced-connect-refused", Critical, fpmSock}}, []string{"Its backlog 128 is net.core.somaxconn's"}, "set net.core.somaxconn=", "net.core.somaxconn"},
		{"stalled owner: the stall is the verdict, the refusals in it", unixTracedInput(4096, fpm, stalled),
			[]tracedSummary{{"traced-stall", Critical, fpmSock}},
			[]string{"php-fpm8.2[10] accepted nothing for 3.0s with 9 waiting", "connect() to it failed with EAGAIN 57 times while traced: its queue was full."},
			"find what stopped it", ""},
		{"never full", unixTracedInput(4096, fpm, &model.Traced{HighWater: 4}), nil, nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := Advise(tt.in)
			got := only(fs, "traced-connect-refused", "traced-connect-blocked", "traced-queue-full", "traced-queue-overflow", "traced-stall")
			if diff := cmp.Diff(tt.want, summarizeTraced(got)); diff != "" {
				t.Fatalf("(-want +got)\n%s", diff)
			}
			for _, want := range tt.reason {
				if !strings.Contains(got[0].Reason, want) {
					t.Errorf("reason %q lacks %q", got[0].Reason, want)
				}
			}
			if len(got) > 0 && !strings.Contains(got[0].Fix, tt.fix) {
				t.Errorf("fix %q lacks %q", got[0].Fix, tt.fix)
			}
			// One verdict per listener: the sampled full-queue finding
			// (the program's backlog, or the somaxconn clamp) folds into it.
			if sampled := only(fs, "listener-backlog-too-small", "somaxconn-clamps-listener"); len(got) > 0 && (len(sampled) > 0 || len(got[0].Folded) == 0) {
				t.Errorf("verdict %s folds %v, and %d sampled findings stand beside it: want them folded (one verdict per listener)", got[0].ID, got[0].Folded, len(sampled))
			}
			if plan := PlanFindings(fs); tt.plan != "" && (len(plan.Changes) == 0 || plan.Changes[0].Key != tt.plan) {
				t.Errorf("plan %+v, want %s changed", plan.Changes, tt.plan)
			}
		})
	}
}
