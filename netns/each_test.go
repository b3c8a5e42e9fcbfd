package netns

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/backlogctl/backlogctl/model"
)

// EachParallel reads every namespace it can open, at most parallel at a
// time, reports a vanished one by its index, and hands read a path that
// stays valid whichever thread enters it.
func TestEachParallel(t *testing.T) {
	nss := []model.Namespace{
		{Path: "/proc/self/ns/net", Inode: 1},
		{Path: "/nonexistent/ns/net", Inode: 2},
		{Path: "/proc/self/ns/net", Inode: 3},
		{Path: "/proc/self/ns/net", Inode: 4},
	}
	var mu sync.Mutex
	running, most, seen := 0, 0, map[uint64]string{}
	errs := EachParallel(nss, 2, func(i int, ns model.Namespace) error {
		mu.Lock()
		running++
		most = max(most, running)
		seen[ns.Inode] = ns.Path
		mu.Unlock()
		defer func() { mu.Lock(); running--; mu.Unlock() }()
		if ns.Inode != nss[i].Inode {
			t.Errorf("read(%d) got namespace %d", i, ns.Inode)
		}
		return nil
	})
	if most > 2 {
		t.Errorf("%d reads at once, want at most 2", most)
	}
	if !errors.Is(errs[1], ErrVanished) {
		t.Errorf("errs[1] = %v, want ErrVanished", errs[1])
	}
	for _, i := range []int{0, 2, 3} {
		if errs[i] != nil {
			t.Errorf("errs[%d] = %v", i, errs[i])
		}
		if p := seen[nss[i].Inode]; !strings.HasPrefix(p, "/proc/self/fd/") {
			t.Errorf("namespace %d read at %q, want its held /proc/self/fd/N", i, p)
		}
	}
	if _, ok := seen[2]; ok {
		t.Error("the vanished namespace was read")
	}
}
