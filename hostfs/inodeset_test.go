package hostfs

import (
	"slices"
	"testing"
)

func TestInodeSet(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     []uint32
		bitmap bool
	}{
		{"empty", nil, false},
		{"only zero", []uint32{0}, false},
		{"narrow", []uint32{70000, 70001, 70063, 70064, 70200, 70001, 0}, true},
		{"one", []uint32{1<<32 - 1}, true},
		{"wide", []uint32{5, 5 + maxBitmapSpan, 1<<32 - 1}, false},
		{"just narrow enough", []uint32{5, 5 + maxBitmapSpan - 1}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewInodeSet(tc.in)
			want := map[uint32]bool{}
			for _, ino := range tc.in {
				if ino != 0 {
					want[ino] = true
				}
			}
			if s.Len() != len(want) {
				t.Errorf("Len = %d, want %d", s.Len(), len(want))
			}
			if got := s.bits != nil; got != tc.bitmap {
				t.Errorf("bitmap = %v, want %v", got, tc.bitmap)
			}
			probes := []uint32{0, 1, 4, 6, 69999, 70002, 70065, 70199, 70201, 1<<32 - 2}
			for ino := range want {
				probes = append(probes, ino, ino-1, ino+1)
			}
			for _, p := range probes {
				if got := s.Has(p); got != want[p] {
					t.Errorf("Has(%d) = %v, want %v", p, got, want[p])
				}
			}
			var sorted []uint32
			for ino := range want {
				sorted = append(sorted, ino)
			}
			slices.Sort(sorted)
			if got := s.Inodes(); !slices.Equal(got, sorted) {
				t.Errorf("Inodes = %v, want %v", got, sorted)
			}
		})
	}
	var all *InodeSet
	if !all.Has(12345) || all.Len() != 0 || all.Inodes() != nil {
		t.Error("a nil set must hold every inode, with no members to list")
	}
}
