package inspect

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Sampler takes repeated listener samples on one Dumper, reusing its
// buffers, for watch-style polling. Counting the SYN queue is the expensive
// part: request sockets live in the established hash, so asking for
// TCP_SYN_RECV makes the kernel walk every ehash bucket (inet_diag_dump_icsk),
// ~7ms per family with 262144 buckets, against ~0.3ms for the listening hash
// alone. Sample(false) skips that walk and attributes the request sockets
// of the last Sample(true) instead; it also skips a family (IPv4 or IPv6)
// that had no listener at the last Sample(true), since each family's dump
// walks the whole listening hash.
type Sampler struct {
	d   *Dumper
	set listenerSet
	// seen says which families had listeners at the last full sample.
	seen map[uint8]bool
}

// NewSampler returns a sampler on d keeping only ports (all when empty).
func NewSampler(d *Dumper, ports []uint16) *Sampler {
	s := &Sampler{d: d, seen: map[uint8]bool{}}
	if len(ports) > 0 {
		s.set.ports = map[uint16]bool{}
		for _, p := range ports {
			s.set.ports[p] = true
		}
	}
	return s
}

// Sample dumps the listeners; with synQueue it also recounts the SYN queue.
// The returned slice is reused by the next call: copy what must outlive it.
func (s *Sampler) Sample(synQueue bool) ([]Listener, error) {
	states := uint32(1 << stateListen)
	s.set.listeners = s.set.listeners[:0]
	if synQueue {
		states |= 1 << stateSynRecv
		s.set.requests = s.set.requests[:0]
	}
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		if !synQueue && !s.seen[family] {
			continue
		}
		before, beforeReq := len(s.set.listeners), len(s.set.requests)
		reset := func() {
			s.set.listeners = s.set.listeners[:before]
			s.set.requests = s.set.requests[:beforeReq]
		}
		if err := s.d.Dump(family, states, s.set.add, reset); err != nil {
			if family == unix.AF_INET6 && errors.Is(err, unix.ENOENT) {
				continue // IPv6 disabled on this kernel
			}
			return nil, fmt.Errorf("dumping %s listeners: %w", familyName(family), err)
		}
	}
	if synQueue {
		clear(s.seen)
		for _, l := range s.set.listeners {
			s.seen[unix.AF_INET] = s.seen[unix.AF_INET] || l.Family == "ipv4"
			s.seen[unix.AF_INET6] = s.seen[unix.AF_INET6] || l.Family == "ipv6"
		}
	}
	return s.set.finish(), nil
}
