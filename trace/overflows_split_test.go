package trace

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplitSynTime(t *testing.T) {
	k := func(c uint64) Key { return Key{Netns: 1, Cookie: c} }
	for _, tt := range []struct {
		name string
		rise uint64
		ls   []SynTimeListener
		want []uint64
	}{{
		// An overflowed request-socket ACK adds 2 to sk_drops: the SYN-time
		// figure is not high by the ACK-time count.
		name: "one listener filled, ACK-time overflows too",
		rise: 7,
		ls:   []SynTimeListener{{Key: k(1), Filled: true, DropsKnown: true, DropsRise: 10, AckOverflows: 3}},
		want: []uint64{4},
	}, {
		name: "cookie ACKs add 1 to sk_drops",
		rise: 1193,
		ls:   []SynTimeListener{{Key: k(1), Filled: true, DropsKnown: true, DropsRise: 1193, CookieAckOverflows: 1002}},
		want: []uint64{191},
	}, {
		// Its drops count SYN-queue drops too: the namespace's rise caps it,
		// and a listener that never filled gets none.
		name: "only the filled listener drops SYNs for a full queue",
		rise: 191,
		ls: []SynTimeListener{
			{Key: k(1), DropsKnown: true, DropsRise: 50},
			{Key: k(2), Filled: true, DropsKnown: true, DropsRise: 546},
		},
		want: []uint64{0, 191},
	}, {
		name: "one filled listener, its drop count not sampled",
		rise: 5,
		ls:   []SynTimeListener{{Key: k(1), Filled: true}},
		want: []uint64{5},
	}, {
		name: "two filled: by unexplained drops, the rest to the one with most",
		rise: 30,
		ls: []SynTimeListener{
			{Key: k(1), Filled: true, DropsKnown: true, DropsRise: 8},
			{Key: k(2), Filled: true, DropsKnown: true, DropsRise: 20},
		},
		want: []uint64{8, 22},
	}, {
		name: "ACK-time overflows elsewhere in the namespace are not SYN-time",
		rise: 12,
		ls: []SynTimeListener{
			{Key: k(1), Filled: true, DropsKnown: true, DropsRise: 2},
			{Key: k(2), AckOverflows: 10},
		},
		want: []uint64{2, 0},
	}, {
		name: "nothing filled",
		rise: 4,
		ls:   []SynTimeListener{{Key: k(1), DropsKnown: true, DropsRise: 4}},
		want: []uint64{0},
	}} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, SplitSynTime(tt.rise, tt.ls)); diff != "" {
				t.Errorf("SplitSynTime (-want +got):\n%s", diff)
			}
		})
	}
}
