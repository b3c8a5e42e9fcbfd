package inspect

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/backlogctl/backlogctl/model"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Sampler.Listeners, whether it sorts and groups afresh or reuses the last
// layout, gives what listenerSet gives for the same dump; a changed order,
// device or SYN count makes it lay out again.
func TestSamplerListenersLayout(t *testing.T) {
	dump := []*DiagSocket{
		listen4("127.0.0.1:80", 11), listen4("127.0.0.1:80", 10), // a reuseport pair
		listen6("[::]:443", 20, false), listen4("0.0.0.0:22", 30), listen6("[::1]:22", 31, true),
	}
	dump[0].HasDrops, dump[0].Drops = true, 7
	requests := []*DiagSocket{req4("127.0.0.1:80"), req4("127.0.0.1:80"), req6("[::ffff:127.0.0.1]:443"), req4("127.0.0.1:22")}
	want := func(socks []*DiagSocket, reqs []*DiagSocket) []model.Listener {
		var set listenerSet
		for _, d := range append(slices.Clone(socks), reqs...) {
			set.add(d)
		}
		return set.finish()
	}
	s := NewSampler(nil, Selection{})
	load := func(socks []*DiagSocket, reqs []*DiagSocket, full bool) {
		s.socks = s.socks[:0]
		for _, d := range socks {
			s.socks = append(s.socks, *d)
		}
		if full {
			s.requests = s.requests[:0]
			for _, d := range reqs {
				if r, ok := requestOf(d); ok {
					s.requests = append(s.requests, r)
				}
			}
			s.layout.valid = false
		}
	}
	check := func(what string, socks []*DiagSocket, reqs []*DiagSocket) {
		t.Helper()
		if diff := cmp.Diff(want(socks, reqs), s.Listeners(), cmpopts.EquateComparable(netip.Addr{}), cmp.AllowUnexported(model.Listener{})); diff != "" {
			t.Errorf("%s: Listeners (-want +got):\n%s", what, diff)
		}
	}

	load(dump, requests, true)
	check("first layout", dump, requests)
	if !s.layout.valid {
		t.Fatal("the layout was not recorded")
	}
	dump[1].RQueue, dump[2].Drops, dump[2].HasDrops = 3, 1, true
	load(dump, nil, false)
	check("reused layout, new queues", dump, requests)

	reordered := []*DiagSocket{dump[4], dump[3], dump[2], dump[1], dump[0]}
	load(reordered, nil, false)
	check("dump order changed", reordered, requests)

	moved := *dump[3]
	moved.IfIndex = 2
	rebound := []*DiagSocket{dump[4], &moved, dump[2], dump[1], dump[0]}
	load(rebound, nil, false)
	check("device changed", rebound, requests)

	load(rebound, requests[:1], true)
	check("new SYN count", rebound, requests[:1])
}
