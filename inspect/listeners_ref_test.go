package inspect

import (
	"cmp"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/backlogctl/backlogctl/model"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"
)

// refFinish is listenerSet.finish as it was written first, with a map from
// group key to members: slower, but plainly the kernel's rules. The test
// below checks that finish gives the same listeners on random dumps.
func refFinish(ls []model.Listener, requests []request) []model.Listener {
	slices.SortFunc(ls, func(a, b model.Listener) int {
		return cmp.Or(cmp.Compare(a.Port, b.Port), cmp.Compare(a.Family, b.Family),
			a.Addr.Compare(b.Addr), cmp.Compare(a.Inode, b.Inode))
	})
	type groupKey struct {
		family  string
		addr    netip.Addr
		port    uint16
		ifindex uint32
		v6only  bool
	}
	keyOf := func(l model.Listener) groupKey {
		return groupKey{l.Family, l.Addr, l.Port, l.BoundIfindex, l.V6Only != nil && *l.V6Only}
	}
	groups := map[groupKey][]int{}
	for i := range ls {
		groups[keyOf(ls[i])] = append(groups[keyOf(ls[i])], i)
	}
	next := 1
	for i := range ls {
		members := groups[keyOf(ls[i])]
		if len(members) > 1 && members[0] == i {
			for _, m := range members {
				ls[m].ReuseportGroup, ls[m].ReuseportSize, ls[m].SynQueueShared = next, len(members), true
			}
			next++
		}
	}
	counts := map[int]uint32{}
	for _, r := range requests {
		addr, port := r.local.Addr(), r.local.Port()
		family, wildcard := "ipv4", netip.IPv4Unspecified()
		v6only := []bool{false}
		if r.family == unix.AF_INET6 {
			family, wildcard = "ipv6", netip.IPv6Unspecified()
			if !addr.Is4In6() {
				v6only = []bool{false, true}
			}
		}
		devices := []uint32{r.ifindex}
		if r.ifindex != 0 {
			devices = append(devices, 0)
		}
	lookup:
		for _, a := range []netip.Addr{addr, wildcard} {
			for _, dev := range devices {
				for _, only := range v6only {
					if m := groups[groupKey{family, a, port, dev, only}]; m != nil {
						counts[m[0]]++
						break lookup
					}
				}
			}
		}
	}
	for first, n := range counts {
		for _, i := range groups[keyOf(ls[first])] {
			ls[i].SynQueue = n
		}
	}
	return ls
}

func TestFinishMatchesReference(t *testing.T) {
	addrs4 := []string{"0.0.0.0", "127.0.0.1", "10.0.0.1"}
	addrs6 := []string{"::", "::1", "::ffff:127.0.0.1", "fe80::1"}
	for seed := uint64(0); seed < 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, 15))
		var socks []*DiagSocket
		inode := uint32(1)
		for range 1 + rng.IntN(60) {
			port := uint16(80 + rng.IntN(4))
			var d *DiagSocket
			if rng.IntN(2) == 0 {
				d = listen4(netip.AddrPortFrom(netip.MustParseAddr(addrs4[rng.IntN(len(addrs4))]), port).String(), inode)
			} else {
				d = listen6(netip.AddrPortFrom(netip.MustParseAddr(addrs6[rng.IntN(len(addrs6))]), port).String(), inode, rng.IntN(2) == 0)
			}
			d.IfIndex = uint32(rng.IntN(3)) * uint32(rng.IntN(2))
			d.HasDrops, d.Drops = rng.IntN(2) == 0, uint32(rng.IntN(5))
			socks = append(socks, d)
			inode += uint32(1 + rng.IntN(3))
			if rng.IntN(4) == 0 {
				inode -= 1 // a repeated inode must not confuse anything
			}
		}
		for range rng.IntN(40) {
			port := uint16(80 + rng.IntN(4))
			var d *DiagSocket
			if rng.IntN(2) == 0 {
				d = req4(netip.AddrPortFrom(netip.MustParseAddr(addrs4[1+rng.IntN(2)]), port).String())
			} else {
				d = req6(netip.AddrPortFrom(netip.MustParseAddr(addrs6[1+rng.IntN(3)]), port).String())
			}
			d.IfIndex = uint32(rng.IntN(3))
			socks = append(socks, d)
		}
		rng.Shuffle(len(socks), func(i, j int) { socks[i], socks[j] = socks[j], socks[i] })

		var set listenerSet
		for _, d := range socks {
			set.add(d)
		}
		// The reference gets the same listeners, built one by one.
		var ref []model.Listener
		addrs := addrCache{}
		for _, d := range socks {
			if d.State == stateListen {
				ref = append(ref, listenerFrom(d, addrs, new(uint32), new(bool)))
			}
		}
		want := refFinish(ref, set.requests)
		got := set.finish()
		if len(want) == 0 {
			want = []model.Listener{}
		}
		if diff := gocmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
			t.Fatalf("seed %d: finish differs from the reference (-want +got):\n%s", seed, diff)
		}
	}
}
