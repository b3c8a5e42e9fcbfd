package inspect

import (
	"encoding/binary"
	"io"
	"net/netip"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
)

// The one-shot path (decode the dump, build and group the listeners, write
// the JSON) must not grow its allocations with the number of listeners
// beyond the ceilings below: they are deterministic, unlike timings, so a
// change that adds an allocation or a copy per listener fails here instead
// of showing up later as a slower `inspect` in docs/BENCHMARKS.md.
//
// Measured when recorded (Go 1.26): 0.002 allocations and 249 bytes per
// listener on the fixture (the chunk copy of the dumped socket, the model.Listener
// itself, its sort index, Drops/V6Only slots and grouping scratch), 408 bytes
// under the race detector, which pads allocations. The ceilings leave some
// headroom for a Go release's size classes, not for an allocation per
// listener (+1) or a copy of the model.Listener (+180 bytes). The socket cookie
// (8 bytes in the model.Listener, up to 30 in its JSON) came later: 281 bytes
// measured with it. A Unix listener's Path and SocketType (two strings,
// 32 bytes in every model.Listener) came later still: 313 bytes measured, 529
// under the race detector (281 and 466 before them). The cap a program puts
// on its own connections (a pointer, 8 bytes) came later still: 337 bytes
// measured, 576 under the race detector (328 and 560 before it).
const maxAllocsPerListener = 0.05

var maxBytesPerListener = map[bool]float64{false: 360, true: 600}[raceEnabled]

// mixedDump is benchDump with the address mix of a real host: listeners
// on 127.0.0.1, 0.0.0.0, [::1] (v6only) and dual-stack [::], every tenth
// pair an SO_REUSEPORT group, and n/45 request sockets.
func mixedDump(seq uint32, n int) [][]byte {
	addrs := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv4Unspecified(), netip.IPv6Loopback(), netip.IPv6Unspecified()}
	var msgs [][]byte
	for i := 0; i < n; i++ {
		port := uint16(10000 + i)
		if i%10 == 1 {
			port--
		}
		a := addrs[(i/10)%len(addrs)]
		if a.Is4() {
			msgs = append(msgs, diagMsg(seq, unix.AF_INET, stateListen, a, port, uint32(100000+i)))
		} else {
			msgs = append(msgs, withV6Only(diagMsg(seq, unix.AF_INET6, stateListen, a, port, uint32(100000+i)), a == netip.IPv6Loopback()))
		}
	}
	for i := 0; i < n/45; i++ {
		msgs = append(msgs, diagMsg(seq, unix.AF_INET, stateSynRecv, addrs[0], uint16(10000+i*40), 0))
	}
	return datagrams(seq, msgs)
}

// withV6Only appends an INET_DIAG_SKV6ONLY attribute to a diagMsg message.
func withV6Only(m []byte, v6only bool) []byte {
	attr := make([]byte, 8)
	binary.NativeEndian.PutUint16(attr[0:2], 5)
	binary.NativeEndian.PutUint16(attr[2:4], attrV6Only)
	if v6only {
		attr[4] = 1
	}
	m = append(m, attr...)
	binary.NativeEndian.PutUint32(m[0:4], uint32(len(m)))
	return m
}

// dumpAndEncode is inspect -o json --no-processes after the kernel's
// reply: decode, build and group, write.
func dumpAndEncode(t testing.TB, batches [][]byte, wantListeners int) {
	set := &listenerSet{}
	var sock DiagSocket
	for _, b := range batches {
		if _, _, err := parseBatch(b, 1, &sock, set.add); err != nil {
			t.Fatal(err)
		}
	}
	snap := &model.Snapshot{Sysctls: map[string]int64{"net.core.somaxconn": 4096},
		Counters: map[string]uint64{"TcpExtListenDrops": 3}, Listeners: set.finish(), Warnings: []string{}}
	if len(snap.Listeners) != wantListeners {
		t.Fatalf("%d listeners, want %d", len(snap.Listeners), wantListeners)
	}
	if err := snap.WriteJSON(io.Discard); err != nil {
		t.Fatal(err)
	}
}

// allocsAndBytes runs f a few times and returns the allocations and bytes
// of one run.
func allocsAndBytes(f func()) (allocs, bytes float64) {
	const runs = 5
	f() // warm: first-use allocations of the runtime and packages
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / runs, float64(after.TotalAlloc-before.TotalAlloc) / runs
}

// perListener measures f at small and large n and returns the growth per
// listener: what does not depend on n (buffers, maps of tunables) cancels.
func perListener(t *testing.T, f func(n int)) (allocs, bytes float64) {
	const small, large = 1000, 9000
	a1, b1 := allocsAndBytes(func() { f(small) })
	a2, b2 := allocsAndBytes(func() { f(large) })
	allocs, bytes = (a2-a1)/(large-small), (b2-b1)/(large-small)
	t.Logf("per listener: %.4f allocations, %.1f bytes (%d listeners: %.0f allocations, %.0f bytes)", allocs, bytes, large, a2, b2)
	return allocs, bytes
}

func TestDumpAndEncodeAllocationsPerListener(t *testing.T) {
	dumps := map[int][][]byte{1000: mixedDump(1, 1000), 9000: mixedDump(1, 9000)}
	allocs, bytes := perListener(t, func(n int) { dumpAndEncode(t, dumps[n], n) })
	if allocs > maxAllocsPerListener {
		t.Errorf("%.3f allocations per listener on the dump-and-encode path, ceiling %.3f: something allocates per listener", allocs, maxAllocsPerListener)
	}
	if bytes > maxBytesPerListener {
		t.Errorf("%.0f bytes allocated per listener on the dump-and-encode path, ceiling %.0f", bytes, maxBytesPerListener)
	}
}

// The same ceilings hold for a real dump from the kernel (Dumper's receive
// loop included), in a private network namespace.
func TestKernelDumpAllocationsPerListener(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	d, err := NewDumper()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	open := func(from, to int) {
		for i := from; i < to; i++ {
			family, addr := unix.AF_INET, unix.Sockaddr(&unix.SockaddrInet4{Port: 20000 + i, Addr: [4]byte{127, 0, 0, 1}})
			if i%4 == 3 {
				family, addr = unix.AF_INET6, &unix.SockaddrInet6{Port: 20000 + i, Addr: netip.IPv6Loopback().As16()}
			}
			fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Close(fd) })
			if err := unix.Bind(fd, addr); err != nil {
				t.Fatal(err)
			}
			if err := unix.Listen(fd, 128); err != nil {
				t.Fatal(err)
			}
		}
	}
	const small, large = 200, 1400
	run := func(n int) func() {
		return func() {
			ls, err := Listeners(d, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(ls) != n {
				t.Fatalf("%d listeners, want %d", len(ls), n)
			}
			snap := &model.Snapshot{Listeners: ls, Warnings: []string{}}
			if err := snap.WriteJSON(io.Discard); err != nil {
				t.Fatal(err)
			}
		}
	}
	open(0, small)
	a1, b1 := allocsAndBytes(run(small))
	open(small, large)
	a2, b2 := allocsAndBytes(run(large))
	allocs, bytes := (a2-a1)/(large-small), (b2-b1)/(large-small)
	t.Logf("per listener: %.4f allocations, %.1f bytes", allocs, bytes)
	if allocs > maxAllocsPerListener {
		t.Errorf("%.3f allocations per listener on a kernel dump, ceiling %.3f", allocs, maxAllocsPerListener)
	}
	if bytes > maxBytesPerListener {
		t.Errorf("%.0f bytes allocated per listener on a kernel dump, ceiling %.0f", bytes, maxBytesPerListener)
	}
}
