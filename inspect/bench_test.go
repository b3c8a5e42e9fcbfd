package inspect

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/jsonfmt"
	"github.com/backlogctl/backlogctl/model"
)

// The benchmarks measure the user-space parts of inspect on fixtures the
// size of scripts/bench.sh's load (9,000 listeners), and the Live* ones the
// kernel dump and /proc scan of whatever namespace they run in: bench.sh
// --breakdown runs them inside its loaded namespace. Numbers are in
// docs/BENCHMARKS.md; nothing here asserts a time.

const benchListeners = 9000

// diagMsg encodes one inet_diag_msg with an SK_MEMINFO attribute, as the
// kernel sends it.
func diagMsg(seq uint32, family, state uint8, addr netip.Addr, port uint16, inode uint32) []byte {
	const memLen = 4 + 9*4
	msgLen := nlmsgHdrLen + inetDiagMsgLen + memLen
	b := make([]byte, nlmAlign(msgLen))
	binary.NativeEndian.PutUint32(b[0:4], uint32(msgLen))
	binary.NativeEndian.PutUint16(b[4:6], nl.SOCK_DIAG_BY_FAMILY)
	binary.NativeEndian.PutUint16(b[6:8], unix.NLM_F_MULTI)
	binary.NativeEndian.PutUint32(b[8:12], seq)
	m := b[nlmsgHdrLen:]
	m[0], m[1] = family, state
	binary.BigEndian.PutUint16(m[4:6], port)
	a := addr.As16()
	if addr.Is4() {
		a4 := addr.As4()
		copy(m[8:12], a4[:])
	} else {
		copy(m[8:24], a[:])
	}
	binary.NativeEndian.PutUint32(m[56:60], inode%7)
	binary.NativeEndian.PutUint32(m[60:64], 4096)
	binary.NativeEndian.PutUint32(m[68:72], inode)
	attr := m[inetDiagMsgLen:]
	binary.NativeEndian.PutUint16(attr[0:2], memLen)
	binary.NativeEndian.PutUint16(attr[2:4], attrSkMemInfo)
	binary.NativeEndian.PutUint32(attr[4+skMemInfoDrop*4:], inode%3)
	return b
}

// benchDump returns datagrams of at most 32 KiB holding n IPv4 listeners
// (every tenth pair an SO_REUSEPORT group) and n/45 request sockets, then DONE.
func benchDump(seq uint32, n int) [][]byte {
	var msgs [][]byte
	lo := netip.MustParseAddr("127.0.0.1")
	for i := 0; i < n; i++ {
		port := uint16(10000 + i)
		if i%10 == 1 {
			port-- // shares the previous listener's port: a reuseport pair
		}
		msgs = append(msgs, diagMsg(seq, unix.AF_INET, stateListen, lo, port, uint32(100000+i)))
	}
	for i := 0; i < n/45; i++ {
		msgs = append(msgs, diagMsg(seq, unix.AF_INET, stateSynRecv, lo, uint16(10000+i*40), 0))
	}
	return datagrams(seq, msgs)
}

// datagrams packs messages into datagrams of at most 32 KiB, as the kernel
// sends a dump, and ends them with NLMSG_DONE.
func datagrams(seq uint32, msgs [][]byte) [][]byte {
	done := make([]byte, nlmsgHdrLen+4)
	binary.NativeEndian.PutUint32(done[0:4], uint32(len(done)))
	binary.NativeEndian.PutUint16(done[4:6], unix.NLMSG_DONE)
	binary.NativeEndian.PutUint32(done[8:12], seq)
	var batches [][]byte
	var cur []byte
	for _, m := range append(msgs, done) {
		if len(cur)+len(m) > 32<<10 {
			batches = append(batches, cur)
			cur = nil
		}
		cur = append(cur, m...)
	}
	return append(batches, cur)
}

// BenchmarkDecodeDump decodes a 9,000-listener dump into a listenerSet.
func BenchmarkDecodeDump(b *testing.B) {
	batches := benchDump(1, benchListeners)
	var set listenerSet
	var sock DiagSocket
	b.ReportAllocs()
	for b.Loop() {
		set.reset()
		for _, batch := range batches {
			if _, _, err := parseBatch(batch, 1, &sock, set.add); err != nil {
				b.Fatal(err)
			}
		}
	}
	if set.nsock != benchListeners {
		b.Fatalf("decoded %d listeners, want %d", set.nsock, benchListeners)
	}
}

// decodedSet is a decoded benchDump, for the stages after decoding.
func decodedSet(tb testing.TB) *listenerSet {
	set := &listenerSet{}
	var sock DiagSocket
	for _, batch := range benchDump(1, benchListeners) {
		if _, _, err := parseBatch(batch, 1, &sock, set.add); err != nil {
			tb.Fatal(err)
		}
	}
	return set
}

// BenchmarkListenerGrouping turns 9,000 dumped sockets into sorted
// Listeners, numbers reuseport groups and attributes request sockets.
func BenchmarkListenerGrouping(b *testing.B) {
	orig := decodedSet(b)
	var socks []DiagSocket
	for _, c := range orig.socks {
		socks = append(socks, c...)
	}
	b.ReportAllocs()
	for b.Loop() {
		set := listenerSet{requests: orig.requests}
		for i := range socks {
			set.add(&socks[i])
		}
		set.finish()
	}
}

func benchSnapshot(tb testing.TB) *model.Snapshot {
	set := decodedSet(tb)
	return &model.Snapshot{Kernel: "6.18", Sysctls: map[string]int64{"net.core.somaxconn": 4096},
		Counters: map[string]uint64{"TcpExtListenDrops": 3}, Listeners: set.finish()}
}

// BenchmarkEncodeJSONStdlib encodes a 9,000-listener snapshot with
// encoding/json's indenting Encoder, what `inspect -o json` used to do.
func BenchmarkEncodeJSONStdlib(b *testing.B) {
	snap := benchSnapshot(b)
	b.ReportAllocs()
	for b.Loop() {
		enc := json.NewEncoder(io.Discard)
		enc.SetIndent("", "  ")
		if err := enc.Encode(snap); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeJSON encodes it the way `inspect -o json` does now
// (Snapshot.WriteJSON: no reflection for listeners, streamed; same bytes).
func BenchmarkEncodeJSON(b *testing.B) {
	snap := benchSnapshot(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := snap.WriteJSON(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeJSONMarshalIndent is the way before WriteJSON
// (cmdutil.WriteJSON: json.Marshal, then jsonfmt's indenter).
func BenchmarkEncodeJSONMarshalIndent(b *testing.B) {
	snap := benchSnapshot(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := jsonfmt.Write(io.Discard, snap); err != nil {
			b.Fatal(err)
		}
	}
}

// procFixture builds a /proc-like tree: procs processes with fds descriptors
// each, every one a "socket:[N]" link; the first process's first
// benchListeners/procs... hold the wanted inodes.
func procFixture(tb testing.TB, procs, fds int) (string, *hostfs.InodeSet) {
	root := tb.TempDir()
	var want []uint32
	ino := uint32(100000)
	for p := 1; p <= procs; p++ {
		dir := filepath.Join(root, strconv.Itoa(1000+p), "fd")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
		for fd := 0; fd < fds; fd++ {
			if fd%5 == 0 {
				want = append(want, ino)
			}
			if err := os.Symlink(fmt.Sprintf("socket:[%d]", ino), filepath.Join(dir, strconv.Itoa(fd))); err != nil {
				tb.Fatal(err)
			}
			ino++
		}
	}
	return root, hostfs.NewInodeSet(want)
}

// BenchmarkScanOwnersFixture walks a fixture of 4 processes with 5,000
// descriptors each (a fifth of them wanted listeners).
func BenchmarkScanOwnersFixture(b *testing.B) {
	root, want := procFixture(b, 4, 5000)
	b.ReportAllocs()
	for b.Loop() {
		scan, err := ScanOwners(root, want, true)
		if err != nil {
			b.Fatal(err)
		}
		if len(scan.Owners) != want.Len() {
			b.Fatalf("found %d owned inodes, want %d", len(scan.Owners), want.Len())
		}
	}
}

// BenchmarkLiveDump is the kernel's sock_diag dump of this namespace's
// listeners and request sockets, both families, with decoding and grouping.
func BenchmarkLiveDump(b *testing.B) {
	d, err := NewDumper()
	if err != nil {
		b.Skipf("sock_diag not available: %v", err)
	}
	defer d.Close()
	b.ReportAllocs()
	var n int
	for b.Loop() {
		ls, err := Listeners(d, nil)
		if err != nil {
			b.Fatal(err)
		}
		n = len(ls)
	}
	b.ReportMetric(float64(n), "listeners")
}

// BenchmarkLiveDumpKernel is the dump alone: one request for both families,
// every reply read and its messages parsed, nothing kept. Its time is nearly
// all the kernel's (perf: tcp_diag_dump walking the tables).
func BenchmarkLiveDumpKernel(b *testing.B) {
	d, err := NewDumper()
	if err != nil {
		b.Skipf("sock_diag not available: %v", err)
	}
	defer d.Close()
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = 0
		if err := d.DumpAll(1<<stateListen|1<<stateSynRecv, func(*DiagSocket) { n++ }, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "sockets")
}

// BenchmarkLiveUnixListeners is the unix_diag dump of this namespace's
// Unix listeners, decoded: the kernel walks every Unix socket of the
// namespace (connected ones too) to find them.
func BenchmarkLiveUnixListeners(b *testing.B) {
	d, err := NewDumper()
	if err != nil {
		b.Skipf("sock_diag not available: %v", err)
	}
	defer d.Close()
	b.ReportAllocs()
	var n int
	for b.Loop() {
		ls, err := UnixListeners(d, nil)
		if err != nil {
			b.Skipf("unix_diag: %v", err)
		}
		n = len(ls)
	}
	b.ReportMetric(float64(n), "listeners")
}
