package netns

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// Keep opens each namespace once and leaves out, with a note, one it cannot
// open; Round visits the kept values without opening anything, drops a
// value whose visit fails when fail says so, and stops at a failure fail
// returns, keeping the values it has not visited.
func TestKeptRounds(t *testing.T) {
	nss := []Namespace{{Path: "a", Inode: 1}, {Path: "b", Inode: 2}, {Path: "c", Inode: 3}, {Path: "d", Inode: 4}}
	opened := map[uint64]int{}
	kept, notes, first := Keep(nss, func(ns *Namespace) (uint64, error) {
		opened[ns.Inode]++
		if ns.Inode == 2 {
			return 0, fmt.Errorf("b: %w", ErrVanished)
		}
		return ns.Inode, nil
	})
	if !errors.Is(first, ErrVanished) || len(notes) != 1 || !strings.Contains(notes[0], "vanished") {
		t.Fatalf("Keep: notes %q, first %v; want one vanished note", notes, first)
	}
	if got := kept.Values(); !slices.Equal(got, []uint64{1, 3, 4}) {
		t.Fatalf("kept %v, want [1 3 4]", got)
	}

	failing := map[uint64]error{3: errors.New("dump failed")}
	var visited []uint64
	visit := func(v uint64) error { visited = append(visited, v); return failing[v] }
	drop := func(uint64, error) error { return nil }
	for round := 0; round < 2; round++ {
		visited = visited[:0]
		dropped, notes, err := kept.Round(visit, drop)
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
	if got := kept.Values(); !slices.Equal(got, []uint64{1, 4}) {
		t.Errorf("kept %v after a drop, want [1 4]", got)
	}
	for ino, n := range opened {
		if n != 1 {
			t.Errorf("namespace %d opened %d times, want once", ino, n)
		}
	}

	fatal := errors.New("fatal")
	failing = map[uint64]error{1: errors.New("boom")}
	visited = visited[:0]
	dropped, _, err := kept.Round(visit, func(uint64, error) error { return fatal })
	if !errors.Is(err, fatal) || len(dropped) != 0 || !slices.Equal(visited, []uint64{1}) {
		t.Errorf("fatal round: err %v, dropped %v, visited %v; want the fail error after visiting 1 only", err, dropped, visited)
	}
	if got := kept.Values(); !slices.Equal(got, []uint64{1, 4}) {
		t.Errorf("kept %v after a fatal round, want [1 4] unchanged", got)
	}
}

// With no namespaces named, Keep opens the one we run in, once, with nil.
func TestKeepCurrent(t *testing.T) {
	kept, notes, err := Keep(nil, func(ns *Namespace) (string, error) {
		if ns != nil {
			t.Errorf("open got %+v, want nil for the current namespace", ns)
		}
		return "here", nil
	})
	if err != nil || notes != nil || !slices.Equal(kept.Values(), []string{"here"}) {
		t.Errorf("Keep(nil) = %v, %q, %v", kept.Values(), notes, err)
	}
	_, _, err = Keep(nil, func(*Namespace) (string, error) { return "", ErrVanished })
	if !errors.Is(err, ErrVanished) {
		t.Errorf("Keep(nil) failing: %v, want the open error", err)
	}
}
