package exporter

import (
	"os"
	"strings"
	"testing"

	"github.com/backlogctl/backlogctl/internal/nstest"
)

// The exporter labels an unnamed namespace netns:[INODE], the kernel's
// net:[INODE] for it, as inspect, check and tune write it.
func TestNetnsLabelIsKernelInode(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	link, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	h, err := newOpts().Handler()
	if err != nil {
		t.Fatal(err)
	}
	want := "netns:" + strings.TrimPrefix(link, "net:")
	value(t, scrape(t, h), "backlogctl_listeners", map[string]string{"netns": want})
}
