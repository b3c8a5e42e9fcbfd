package model

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Refusals add up by process; what happened between two reads is the
// difference, by process, with a count that went down (the programs'
// bounded table forgot a pair) counted afresh.
func TestUnixTracedSince(t *testing.T) {
	var prev, now UnixTraced
	prev.AddRefusal(10, "nginx", 3)
	prev.AddRefusal(11, "", 1)
	prev.ConnectBlocked = ConnectWait{Count: 1, SumNs: 100, MaxNs: 100}
	now.AddRefusal(10, "nginx", 5)
	now.AddRefusal(11, "nginx", 1)
	now.AddRefusal(12, "php", 2)
	now.AddRefusal(10, "", 2)
	now.ConnectBlocked = ConnectWait{Count: 3, SumNs: 400, MaxNs: 250}
	if now.ConnectEAGAIN != 10 || now.ConnectRefusals[0] != (ConnectRefusal{PID: 10, Comm: "nginx", Count: 7}) {
		t.Fatalf("added: %+v", now)
	}
	want := UnixTraced{ConnectEAGAIN: 6, ConnectRefusals: []ConnectRefusal{{PID: 10, Comm: "nginx", Count: 4}, {PID: 12, Comm: "php", Count: 2}},
		ConnectBlocked: ConnectWait{Count: 2, SumNs: 300, MaxNs: 250}}
	if diff := cmp.Diff(want, now.since(&prev)); diff != "" {
		t.Errorf("since (-want +got):\n%s", diff)
	}
	forgot := UnixTraced{}
	forgot.AddRefusal(10, "nginx", 1)
	if got := forgot.since(&prev); got.ConnectEAGAIN != 1 || got.ConnectRefusals[0].Count != 1 {
		t.Errorf("after the table forgot: %+v, want the 1 counted since", got)
	}
	tr := &Traced{UnixTraced: now}
	if d := tr.Since(&Traced{UnixTraced: prev}); d.ConnectEAGAIN != 6 {
		t.Errorf("Traced.Since carries connect_eagain %d, want 6", d.ConnectEAGAIN)
	}
}
