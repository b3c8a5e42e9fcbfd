package collect

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/netns"
)

// keep opens each namespace once, inside it, and leaves out, with a note,
// one it cannot enter or open; round visits the kept values without opening anything, drops a
// value whose visit fails when fail says so, and stops at a failure fail
// returns, keeping the values it has not visited.
func TestKeptRounds(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	here := "/proc/self/ns/net"
	nss := []model.Namespace{{Path: here, Inode: 1}, {Path: t.TempDir() + "/gone", Inode: 2}, {Path: here, Inode: 3}, {Path: here, Inode: 4}}
	opened := map[uint64]int{}
	kept, notes, first := keep(nss, func(ns *model.Namespace) (uint64, error) {
		opened[ns.Inode]++
		return ns.Inode, nil
	})
	if !errors.Is(first, netns.ErrVanished) || len(notes) != 1 || !strings.Contains(notes[0], "vanished") {
		t.Fatalf("Keep: notes %q, first %v; want one vanished note", notes, first)
	}
	if got := kept.values(); !slices.Equal(got, []uint64{1, 3, 4}) {
		t.Fatalf("kept %v, want [1 3 4]", got)
	}

	failing := map[uint64]error{3: errors.New("dump failed")}
	var visited []uint64
	visit := func(v uint64) error { visited = append(visited, v); return failing[v] }
	drop := func(uint64, error) error { return nil }
	for round := 0; round < 2; round++ {
		visited = visited[:0]
		dropped, notes, err := kept.round(visit, drop)
		if err != nil {
			t.Fatal(err)
		}
		if round == 0 && (!slices.Equal(dropped, []uint64{3}) || len(notes) != 1 || !strings.Contains(notes[0], "skipped netns:[3]: dump failed")) {
			t.Errorf("round 0: dropped %v, notes %q; want 3 dropped with a note", dropped, notes)
		}
		if round == 1 && (len(dropped) != 0 || len(notes) != 0 || !slices.Equal(visited, []uint64{1, 4})) {
			t.Errorf("round 1: visited %v, dropped %v, notes %q; want [1 4] only", visited, dropped, notes)
		}
	}
	if got := kept.values(); !slices.Equal(got, []uint64{1, 4}) {
		t.Errorf("kept %v after a drop, want [1 4]", got)
	}
	if _, ok := opened[2]; ok {
		t.Error("the namespace that could not be entered was opened")
	}
	for ino, n := range opened {
		if n != 1 {
			t.Errorf("namespace %d opened %d times, want once", ino, n)
		}
	}

	fatal := errors.New("fatal")
	failing = map[uint64]error{1: errors.New("boom")}
	visited = visited[:0]
	dropped, _, err := kept.round(visit, func(uint64, error) error { return fatal })
	if !errors.Is(err, fatal) || len(dropped) != 0 || !slices.Equal(visited, []uint64{1}) {
		t.Errorf("fatal round: err %v, dropped %v, visited %v; want the fail error after visiting 1 only", err, dropped, visited)
	}
	if got := kept.values(); !slices.Equal(got, []uint64{1, 4}) {
		t.Errorf("kept %v after a fatal round, want [1 4] unchanged", got)
	}
}

// With no namespaces named, keep opens the one we run in, once, with nil.
func TestKeepCurrent(t *testing.T) {
	kept, notes, err := keep(nil, func(ns *model.Namespace) (string, error) {
		if ns != nil {
			t.Errorf("open got %+v, want nil for the current namespace", ns)
		}
		return "here", nil
	})
	if err != nil || notes != nil || !slices.Equal(kept.values(), []string{"here"}) {
		t.Errorf("Keep(nil) = %v, %q, %v", kept.values(), notes, err)
	}
	_, _, err = keep(nil, func(*model.Namespace) (string, error) { return "", netns.ErrVanished })
	if !errors.Is(err, netns.ErrVanished) {
		t.Errorf("Keep(nil) failing: %v, want the open error", err)
	}
}
