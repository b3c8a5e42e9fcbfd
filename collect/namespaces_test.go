package collect

import (
	"strings"
	"testing"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/netns"
	"github.com/backlogctl/backlogctl/netns/netnstest"
)

// A namespace that is gone by the time it is entered is a note, and the
// others are still read.
func TestSnapshotAllSkipsVanished(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	live, err := netns.Resolve(netnstest.Hold(t), "")
	if err != nil {
		t.Fatal(err)
	}
	gone := model.Namespace{Inode: 1, Path: "/proc/999999999/ns/net"}
	m, err := snapshot(Options{Namespaces: Namespaces{All: true}, Owners: OwnersOn}, []model.Namespace{gone, live}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Namespaces) != 1 || m.Namespaces[0].Netns.Inode != live.Inode {
		t.Errorf("namespaces %+v, want only the live one", m.Namespaces)
	}
	if len(m.Notes) != 1 || !strings.Contains(m.Notes[0], "netns:[1]") || !strings.Contains(m.Notes[0], "vanished") {
		t.Errorf("notes %q, want one saying netns:[1] vanished", m.Notes)
	}
	if m.Namespaces[0].Sysctls["net.core.somaxconn"] != 4096 {
		t.Errorf("fresh namespace somaxconn %d, want the default 4096", m.Namespaces[0].Sysctls["net.core.somaxconn"])
	}
}
