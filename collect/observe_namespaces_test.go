package collect

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/netns"
)

// A namespace gone before it is entered is skipped with ErrVanished, and
// nothing is read for it: alone under --all-netns, that is an error saying
// so; asked for by --netns, the error is its own.
func TestObserveSkipsVanished(t *testing.T) {
	gone := []model.Namespace{{Inode: 1, Path: t.TempDir() + "/gone"}}
	_, _, err := observeSampled(context.Background(), Options{Namespaces: Namespaces{All: true}}, gone, ObserveOptions{})
	if err == nil || !strings.Contains(err.Error(), "no network namespace could be read (1 skipped)") {
		t.Errorf("all vanished: %v, want none could be read", err)
	}
	_, _, err = observeSampled(context.Background(), Options{Namespaces: Namespaces{Netns: "gone"}}, gone, ObserveOptions{})
	if !errors.Is(err, netns.ErrVanished) || !strings.HasPrefix(err.Error(), "--netns gone: ") {
		t.Errorf("--netns vanished: %v, want ErrVanished for --netns gone", err)
	}
}
