package inspect

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
)

// dropFinalACK installs nftables rules in the test's namespace that drop the
// pure ACK completing a handshake to port, while the SYN (and the SYN-ACK,
// which goes to the client's port) pass: connections stay in the SYN queue.
func dropFinalACK(t *testing.T, ports ...uint16) {
	t.Helper()
	nstest.DropFinalACK(t, ports...)
}

// gather dumps the listeners on ports (every one when none) or fails the
// test.
func gather(t *testing.T, ports ...uint16) *model.Snapshot {
	t.Helper()
	ls, err := Listeners(nil, ports)
	if err != nil {
		t.Fatalf("Listeners: %v", err)
	}
	return &model.Snapshot{Listeners: ls}
}

// findEndpoint returns the listeners on exactly addr:port.
func findEndpoint(ls []model.Listener, ep netip.AddrPort) []model.Listener {
	var out []model.Listener
	for _, l := range ls {
		if l.Addr == ep.Addr() && l.Port == ep.Port() {
			out = append(out, l)
		}
	}
	return out
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// wantErr checks err against want, a substring of the expected message ("":
// no error), and reports whether the caller should go on to check results.
func wantErr(t *testing.T, err error, want string) bool {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatal(err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("err = %v, want one containing %q", err, want)
	}
	return want == ""
}
