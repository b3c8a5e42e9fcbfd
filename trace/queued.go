package trace

import "time"

// EnqueueTimes is what a Source that keeps the programs' ring can also
// say: when a connection still waiting in a listener's accept queue entered
// it. The *Collector can; a recording cannot (its evidence then gives only
// a lower bound of the oldest connection's wait).
type EnqueueTimes interface {
	// EnqueuedAt is when the connection at place (counted from 0 as
	// ListenerEvidence.Enqueued counts enqueues) entered k's accept queue;
	// ok is false when the programs do not hold it: queued before tracing
	// began (a place below 0 as a signed number), or its ring slot reused
	// since (RingSlots enqueues later, or by another listener's run).
	EnqueuedAt(k Key, place uint64) (at time.Time, ok bool)
}

// EnqueuedAt reads place's slot of the ring (ring_slot_of in bpf/trace.c):
// its time, if its tag is still k's connection at that place.
func (c *Collector) EnqueuedAt(k Key, place uint64) (time.Time, bool) {
	if int64(place) < 0 || c.objs.Ring == nil {
		return time.Time{}, false
	}
	slot := (cookieHash(k.Cookie) + uint32(place)) & (RingSlots - 1)
	var rs bpfRingSlot
	if err := c.objs.Ring.Lookup(slot, &rs); err != nil || rs.Tag != ringTag(k.Cookie, place) || rs.Since < c.startMono {
		return time.Time{}, false
	}
	now, mono := time.Now(), monotonicNow()
	if rs.Since > mono {
		return now, true
	}
	return now.Add(-time.Duration(mono - rs.Since)), true
}

// cookieHash is cookie_hash in bpf/trace.c: where a listener's run of ring
// slots (and its window of listener slots) starts.
func cookieHash(cookie uint64) uint32 { return uint32((cookie * 0x9E3779B97F4A7C15) >> 32) }

// ringTag is ring_tag in bpf/trace.c: the listener and the place a ring
// slot holds.
func ringTag(cookie, place uint64) uint64 { return cookie<<32 | uint64(uint32(place)) }

var _ EnqueueTimes = (*Collector)(nil)
