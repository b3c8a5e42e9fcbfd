package observe

import (
	"errors"
	"testing"

	"github.com/backlogctl/backlogctl/check"
	"github.com/backlogctl/backlogctl/netns"
)

// A namespace gone before it is entered is skipped with ErrVanished, and
// the read is never run for it.
func TestReadNamespacesSkipsVanished(t *testing.T) {
	gone := netns.Namespace{Inode: 1, Path: t.TempDir() + "/gone"}
	called := false
	got, skipped, _ := ReadNamespaces([]netns.Namespace{gone}, Source{}, func(Source) (*check.Observation, error) {
		called = true
		return &check.Observation{}, nil
	}, 0)
	if len(got) != 0 || called {
		t.Errorf("read a vanished namespace: got %v, called %v", got, called)
	}
	if len(skipped) != 1 || !errors.Is(skipped[0].Err, netns.ErrVanished) {
		t.Errorf("skipped = %+v, want one ErrVanished", skipped)
	}
}
