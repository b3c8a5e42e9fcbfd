package watch

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/netns"
	"github.com/backlogctl/backlogctl/netns/netnstest"
)

// Under --all-netns, a namespace whose last process exits mid-watch is
// dropped by the fan-out with a note; the others go on being watched.
func TestWatchAllNetnsDropsVanished(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	stay, gone := netnstest.Hold(t), netnstest.Hold(t)
	stayNS, err := netns.Resolve(stay, "")
	if err != nil {
		t.Fatal(err)
	}
	goneNS, err := netns.Resolve(gone, "")
	if err != nil {
		t.Fatal(err)
	}
	o := &Options{Interval: 200 * time.Millisecond, Output: "json"}
	o.Namespaces.All = true
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	buf, stop := startWatch(o)
	errOut := o.IO.ErrOut.(*syncBuffer)
	lines := func() []model.WatchMultiReport { return jsonLines[model.WatchMultiReport](t, buf.String()) }
	has := func(m model.WatchMultiReport, inode uint64) bool {
		for _, r := range m.Namespaces {
			if r.Netns != nil && r.Netns.Inode == inode {
				return true
			}
		}
		return false
	}
	nstest.Eventually(t, time.Minute, "a line with both test namespaces", func() bool {
		ms := lines()
		return len(ms) > 0 && has(ms[len(ms)-1], goneNS.Inode) && has(ms[len(ms)-1], stayNS.Inode)
	})
	// Its only process ends: /proc/PID/ns/net no longer opens it.
	var pid int
	if _, err := fmt.Sscanf(gone, "/proc/%d/ns/net", &pid); err != nil {
		t.Fatal(err)
	}
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	note := "backlogctl: note: skipped " + goneNS.Label() + ": it vanished during the scan"
	nstest.Eventually(t, time.Minute, "a note that the namespace vanished", func() bool {
		return strings.Contains(errOut.String(), note)
	})
	before := len(lines())
	nstest.Eventually(t, time.Minute, "a line after the note", func() bool { return len(lines()) > before })
	if err := stop(); err != nil {
		t.Fatalf("watch ended with %v, want it to go on without the vanished namespace", err)
	}
	last := lines()[len(lines())-1]
	if has(last, goneNS.Inode) || !has(last, stayNS.Inode) {
		t.Errorf("last line %+v: want %s dropped and %s still watched", last.Namespaces, goneNS.Label(), stayNS.Label())
	}
}
