package collect

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/trace"
)

func TestSplitSynTime(t *testing.T) {
	k := func(c uint64) trace.Key { return trace.Key{Netns: 1, Cookie: c} }
	for _, tt := range []struct {
		name string
		rise uint64
		ls   []synTimeListener
		want []uint64
	}{{
		// An overflowed request-socket ACK adds 2 to sk_drops: the SYN-time
		// figure is not high by the ACK-time count.
		name: "one listener filled, ACK-time overflows too",
		rise: 7,
		ls:   []synTimeListener{{key: k(1), filled: true, dropsKnown: true, dropsRise: 10, ackOverflows: 3}},
		want: []uint64{4},
	}, {
		name: "cookie ACKs add 1 to sk_drops",
		rise: 1193,
		ls:   []synTimeListener{{key: k(1), filled: true, dropsKnown: true, dropsRise: 1193, cookieAckOverflows: 1002}},
		want: []uint64{191},
	}, {
		// Its drops count SYN-queue drops too: the namespace's rise caps it,
		// and a listener that never filled gets none.
		name: "only the filled listener drops SYNs for a full queue",
		rise: 191,
		ls: []synTimeListener{
			{key: k(1), dropsKnown: true, dropsRise: 50},
			{key: k(2), filled: true, dropsKnown: true, dropsRise: 546},
		},
		want: []uint64{0, 191},
	}, {
		name: "one filled listener, its drop count not sampled",
		rise: 5,
		ls:   []synTimeListener{{key: k(1), filled: true}},
		want: []uint64{5},
	}, {
		name: "two filled: by unexplained drops, the rest to the one with most",
		rise: 30,
		ls: []synTimeListener{
			{key: k(1), filled: true, dropsKnown: true, dropsRise: 8},
			{key: k(2), filled: true, dropsKnown: true, dropsRise: 20},
		},
		want: []uint64{8, 22},
	}, {
		name: "ACK-time overflows elsewhere in the namespace are not SYN-time",
		rise: 12,
		ls: []synTimeListener{
			{key: k(1), filled: true, dropsKnown: true, dropsRise: 2},
			{key: k(2), ackOverflows: 10},
		},
		want: []uint64{2, 0},
	}, {
		name: "nothing filled",
		rise: 4,
		ls:   []synTimeListener{{key: k(1), dropsKnown: true, dropsRise: 4}},
		want: []uint64{0},
	}} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, splitSynTime(tt.rise, tt.ls)); diff != "" {
				t.Errorf("splitSynTime (-want +got):\n%s", diff)
			}
		})
	}
}
