package inspect

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// A recorded socket reads back as the DiagSocket it was recorded from, and a
// replayed dump gives only the states asked for, without drops unless the
// memory info was asked for, then the next dump, then the last again.
func TestReplay(t *testing.T) {
	listener := DiagSocket{Family: unix.AF_INET6, State: stateListen, LocalPort: 443, Local: netip.MustParseAddr("::"),
		Inode: 7, UID: 33, RQueue: 2, WQueue: 511, Drops: 5, HasDrops: true, V6Only: 0, IfIndex: 2, Cookie: 99}
	request := DiagSocket{Family: unix.AF_INET6, State: stateSynRecv, LocalPort: 443,
		Local: netip.MustParseAddr("::ffff:127.0.0.1"), V6Only: -1}
	for _, d := range []DiagSocket{listener, request} {
		got, err := recordedSocket(&d).diagSocket()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(d, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
	second := listener
	second.RQueue = 3
	r := &replayer{rec: Recording{Dumps: [][]RecordedSocket{
		{recordedSocket(&listener), recordedSocket(&request)},
		{recordedSocket(&second)},
	}}}
	var got []DiagSocket
	visit := func(d *DiagSocket) { got = append(got, *d) }
	if err := r.dump(1<<stateListen, 0, visit); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].HasDrops || got[0].Inode != 7 {
		t.Errorf("listening sockets without memory info = %+v, want the listener without drops", got)
	}
	for _, want := range []uint32{3, 3} {
		got = nil
		if err := r.dump(1<<stateListen|1<<stateSynRecv, extMemInfo, visit); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].RQueue != want || !got[0].HasDrops {
			t.Errorf("later dump = %+v, want the second recorded one", got)
		}
	}
}
