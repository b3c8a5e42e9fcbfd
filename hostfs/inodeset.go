package hostfs

import "slices"

// maxBitmapSpan is the widest range of inode numbers an InodeSet keeps as a
// bitmap: 1<<24 bits is 2 MiB of address space, of which only the pages
// holding members and the pages probed are ever touched.
const maxBitmapSpan = 1 << 24

// InodeSet is a set of socket inodes with a membership test cheap enough to
// run on every socket descriptor of the host (about 90,000 on a busy one).
// Socket inodes are numbered from one counter, so the listeners looked for
// usually span a narrow range: they are kept as a bitmap over that range,
// and in a map when the range is too wide. A nil *InodeSet holds every
// inode.
type InodeSet struct {
	base uint32
	bits []uint64
	m    map[uint32]struct{}
	n    int
}

// NewInodeSet returns the set of inodes; zero, which no socket has, is left
// out.
func NewInodeSet(inodes []uint32) *InodeSet {
	s := &InodeSet{}
	lo, hi := uint32(0), uint32(0)
	for _, ino := range inodes {
		if ino == 0 {
			continue
		}
		if s.n == 0 || ino < lo {
			lo = ino
		}
		hi = max(hi, ino)
		s.n++
	}
	if s.n == 0 {
		return s
	}
	if hi-lo < maxBitmapSpan {
		s.base = lo
		s.bits = make([]uint64, (hi-lo)/64+1)
		s.n = 0
		for _, ino := range inodes {
			if ino != 0 && !s.Has(ino) {
				s.bits[(ino-lo)/64] |= 1 << ((ino - lo) % 64)
				s.n++
			}
		}
		return s
	}
	s.m = make(map[uint32]struct{}, s.n)
	for _, ino := range inodes {
		if ino != 0 {
			s.m[ino] = struct{}{}
		}
	}
	s.n = len(s.m)
	return s
}

// Has reports whether ino is in the set; always true for a nil set.
func (s *InodeSet) Has(ino uint32) bool {
	if s == nil {
		return true
	}
	if s.m != nil {
		_, ok := s.m[ino]
		return ok
	}
	i := uint64(ino) - uint64(s.base) // wraps far above the bitmap when ino < base
	return i/64 < uint64(len(s.bits)) && s.bits[i/64]&(1<<(i%64)) != 0
}

// Len is the number of inodes in the set.
func (s *InodeSet) Len() int {
	if s == nil {
		return 0
	}
	return s.n
}

// Inodes returns the members in ascending order.
func (s *InodeSet) Inodes() []uint32 {
	if s == nil {
		return nil
	}
	out := make([]uint32, 0, s.n)
	if s.m != nil {
		for ino := range s.m {
			out = append(out, ino)
		}
		slices.Sort(out)
		return out
	}
	for w, word := range s.bits {
		for b := uint32(0); word != 0; b++ {
			if word&1 != 0 {
				out = append(out, s.base+uint32(w)*64+b)
			}
			word >>= 1
		}
	}
	return out
}
