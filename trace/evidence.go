package trace

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Key names a listening socket host-wide: its network namespace's inode and
// its socket cookie.
type Key struct {
	Netns  uint64 `json:"netns"`
	Cookie uint64 `json:"cookie"`
}

// Evidence is everything the programs counted since Since, cumulative,
// and each listener's high water in the interval the read closed.
type Evidence struct {
	// Mode is what the programs attached: in ModeQueue accept() is not
	// seen (Accepted, LastAccept and the waits are inferred from the queue).
	Mode  Mode
	Since time.Time
	Time  time.Time
	// IntervalSince is when the interval this read closed began: the
	// previous Snapshot, or Since for the first.
	IntervalSince time.Time
	// Listeners are keyed by namespace and cookie.
	Listeners map[Key]*ListenerEvidence
	// UnattributedErrors are accept() errors whose listening socket could
	// not be resolved (cookie 0), by namespace of the calling process.
	UnattributedErrors []AcceptErrors
	// ListenerSlots is the listener table's size, ListenersTraced the
	// slots taken.
	ListenerSlots   int
	ListenersTraced int
	// Untraced are the listeners that found the table full (every slot of
	// their window held by a live listener) at some event, with the events
	// the programs did not count for them: their exact figures, if any,
	// count only the events after they got a slot. UntracedEvents is every
	// such event; when Untraced sums to less, listeners beyond its room
	// (ListenerSlots) missed events too, and any listener without figures
	// may be one (UntracedUnnamed).
	Untraced       map[Key]uint64
	UntracedEvents uint64
	// ConnectBlockedSince is when connect()'s entry program was attached
	// (at the first read that found a Unix listener full): blocking
	// connects are timed from then. Zero: not yet, or not in this mode.
	ConnectBlockedSince time.Time
	// ConnectRefusals are connect() calls on Unix stream and seqpacket
	// sockets that failed with EAGAIN because the listener's queue was full
	// (full mode), by connecting process and address: the listener is the
	// one the address leads to, which the programs cannot tell.
	ConnectRefusals []ConnectRefusal
}

// ConnectRefusal counts one process's connect() calls to one Unix address
// that a full listener refused with EAGAIN.
type ConnectRefusal struct {
	// Netns is the connecting socket's network namespace, where an
	// abstract name is looked up.
	Netns uint64
	PID   int
	// Type is the connecting socket's, SOCK_STREAM or SOCK_SEQPACKET: a
	// listener of that type only takes the connection.
	Type uint16
	// SunPath is the address as the process gave it, sun_path's bytes: a
	// path (relative to its working directory unless absolute, in its own
	// root) up to its first NUL, where the kernel ends it
	// (unix_mkname_bsd), or an abstract name: a leading NUL and every byte
	// of the address after it.
	SunPath []byte
	Count   uint64
}

// UntracedUnnamed are the untraced events of listeners Untraced had no
// room to name.
func (ev *Evidence) UntracedUnnamed() uint64 {
	var named uint64
	for _, n := range ev.Untraced {
		named += n
	}
	return ev.UntracedEvents - min(named, ev.UntracedEvents)
}

// ListenerEvidence is one listener's traced figures.
type ListenerEvidence struct {
	Key
	// AcceptQueueHighWater is the largest sk_ack_backlog seen at an enqueue.
	AcceptQueueHighWater uint32
	// IntervalHighWater is the longest the accept queue was between the
	// previous Snapshot and this one (IntervalSince to Time), exact: the
	// longest seen at an enqueue or the length it held when the interval
	// began, or, with no traced event in the interval, the length it held
	// throughout. Valid when Tracked.
	IntervalHighWater uint32
	// IntervalEvents: the interval had an event of this listener's queue
	// (its high water is then the slot's, not the length it was left at).
	IntervalEvents bool
	// Tracked: the programs followed this listener's queue (it had an
	// enqueue or an accept since Since). Without, the queue did not change
	// while traced and a sock_diag sample gives its length.
	Tracked bool
	// SynQueueHighWater is the largest SYN-queue length seen at this
	// listener's events (enqueues, SYN-ACK retransmits, drops).
	SynQueueHighWater uint32
	Enqueued          uint64
	Accepted          uint64
	// Dequeued is the place (counted as Enqueued counts) of the next
	// connection accept() takes: in ModeFull exact, as of the read; in
	// ModeQueue inferred at the last enqueue. Below Enqueued, the
	// connection at that place is the oldest still queued; as a signed
	// number below 0, it was queued before tracing began.
	Dequeued uint64
	// MaxBacklog is the effective backlog (sk_max_ack_backlog) at the
	// listener's last enqueue or drop; 0 when neither was seen.
	MaxBacklog uint32
	// AckOverflows are final ACKs of request sockets dropped because the
	// accept queue was full (tcp_check_req, drop reason
	// TCP_LISTEN_OVERFLOW); CookieAckOverflows the same for ACKs carrying a
	// SYN cookie (cookie_v4_check, which the kernel frees as NO_SOCKET).
	// Both are exact and both are in Drops as ListenOverflowReason.
	AckOverflows       uint64
	CookieAckOverflows uint64
	// Drops by kernel drop reason name (skb_drop_reason without its
	// prefix), but for the cookie ACKs above, filed as ListenOverflowReason.
	Drops map[string]uint64
	// AcceptWait is the accept-queue wait of the connections accepted. In
	// ModeQueue each wait is its upper bound, at most WaitBound more than
	// the real one, and WaitUnbounded were found taken too many at once to
	// be timed.
	AcceptWait    Wait
	WaitBound     time.Duration
	WaitUnbounded uint64
	// BaseLen is the queue's length before the listener's first traced
	// event, LastLen its length after the last one (valid when Tracked): in
	// ModeQueue, Accepted is Enqueued + BaseLen - LastLen, as of that event.
	BaseLen, LastLen uint32
	// AcceptErrors are failed accept() calls on this listener.
	AcceptErrors []AcceptErrors
	// LastAccept is when accept() last returned a connection (zero: never
	// since Since). WaitingSince is when the queue last became non-empty or,
	// if later, the last accept left it non-empty: how long the queue has
	// been held without an accept.
	LastAccept   time.Time
	WaitingSince time.Time
	// LastAcceptPID is the process whose accept() last took a connection
	// (0: none): the listener's owner, known without walking /proc.
	LastAcceptPID int
	// Unix: an AF_UNIX listener (its queue is its receive queue; it has
	// no SYN queue and no drops).
	Unix bool
	// ConnectBlocked are blocking connect() calls to this Unix listener
	// that slept before their connection was queued (the listener was
	// full: unix_wait_for_peer), timed from connect()'s entry to the
	// enqueue (full mode).
	ConnectBlocked ConnectWait
}

// ConnectWait counts connect() calls that slept, with the time they took
// in all and at most.
type ConnectWait struct {
	Count uint64
	SumNs uint64
	MaxNs uint64
}

// Wait is the programs' histogram of accept-queue waits: Buckets[i] counts
// waits in [2^i, 2^(i+1)) ns (the last one unbounded), with their exact
// count, sum and maximum.
type Wait struct {
	Buckets [WaitBuckets]uint64
	Count   uint64
	SumNs   uint64
	MaxNs   uint64
	// Unmatched of Count were timed from the enqueue at the connection's
	// place in the queue, because the connection itself was not found
	// there or beside it (an enqueue on another CPU moved the queue's
	// tail first); such a wait can be off by the time between two enqueues.
	Unmatched uint64
}

// AcceptErrors counts one process's failed accept() calls with one errno,
// in the network namespace of the calling process.
type AcceptErrors struct {
	Netns uint64
	PID   int
	Errno string
	Count uint64
}

// Snapshot reads the maps: a consistent-enough copy (each entry is read
// once; the programs keep counting meanwhile). It closes the interval since
// the previous Snapshot: each read is one interval of IntervalHighWater, so
// a collector has one reader (one watch, one exporter).
func (c *Collector) Snapshot() (*Evidence, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Advance the epoch first: from here on the programs count in the next
	// one, and the closed epoch's slots are final but for events that read
	// cur_epoch just before (see epoch_event in bpf/trace.c).
	closed := c.epoch
	if err := c.objs.CurEpoch.Set(closed + 1); err != nil {
		return nil, fmt.Errorf("advancing the interval: %w", err)
	}
	intervalSince := c.epochStart
	c.epoch++
	now, mono := time.Now(), monotonicNow()
	c.epochStart = now
	wall := func(ns uint64) time.Time {
		if ns == 0 || ns < c.startMono {
			return time.Time{}
		}
		return now.Add(-time.Duration(mono - ns))
	}
	ev := &Evidence{Mode: c.mode, Since: c.start, Time: now, IntervalSince: intervalSince, Listeners: map[Key]*ListenerEvidence{},
		ListenerSlots: c.tableSlots, Untraced: map[Key]uint64{}}
	if err := c.readListeners(); err != nil {
		return nil, fmt.Errorf("reading listener stats: %w", err)
	}
	for i := range c.slots {
		st := &c.slots[i]
		if st.Cookie == 0 || st.Cookie == slotTaking {
			continue // a free slot, or one being taken over
		}
		ev.ListenersTraced++
		k := Key{Netns: st.Netns, Cookie: st.Cookie}
		le := &ListenerEvidence{
			Key:                  k,
			AcceptQueueHighWater: st.AcceptQueueHw,
			IntervalHighWater:    intervalHighWater(st, closed),
			IntervalEvents:       uint32(st.EpochHw[closed&1]>>32) == closed,
			Tracked:              st.QueueSeen != 0,
			SynQueueHighWater:    st.SynQueueHw,
			Enqueued:             st.Enqueued,
			Accepted:             st.Accepted,
			Dequeued:             st.Dequeued,
			MaxBacklog:           st.MaxBacklog,
			WaitBound:            time.Duration(st.WaitBoundMaxNs),
			WaitUnbounded:        st.WaitUnbounded,
			BaseLen:              st.BaseLen,
			LastLen:              st.LastLen,
			Drops:                map[string]uint64{},
			AcceptWait: Wait{Buckets: st.WaitBuckets, Count: bucketsSum(st.WaitBuckets), SumNs: st.WaitSumNs, MaxNs: st.WaitMaxNs,
				Unmatched: st.WaitUnmatched},
			LastAccept:    wall(st.LastAcceptNs),
			WaitingSince:  wall(st.NonemptySinceNs),
			LastAcceptPID: int(st.LastAcceptTgid),
			Unix:          st.UnixListener != 0,
		}
		if c.mode == ModeQueue && le.Tracked {
			le.Accepted = st.Enqueued + uint64(st.BaseLen) - min(uint64(st.LastLen), st.Enqueued+uint64(st.BaseLen))
		}
		ev.Listeners[k] = le
	}
	get := func(k Key) *ListenerEvidence {
		le := ev.Listeners[k]
		if le == nil {
			le = &ListenerEvidence{Key: k, Drops: map[string]uint64{}}
			ev.Listeners[k] = le
		}
		return le
	}
	var dk bpfDropKey
	var n uint64
	it := c.objs.Drops.Iterate()
	for it.Next(&dk, &n) {
		le := get(Key{uint64(dk.Netns), dk.Cookie})
		name := c.reasonName(dk.Reason)
		switch {
		case dk.Reason == dropCookieOverflow:
			le.CookieAckOverflows += n
		case name == ListenOverflowReason:
			le.AckOverflows += n
		}
		le.Drops[name] += n
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("reading drops: %w", err)
	}
	var uk bpfUntracedKey
	it = c.objs.Untraced.Iterate()
	for it.Next(&uk, &n) {
		ev.Untraced[Key{uint64(uk.Netns), uk.Cookie}] = n
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("reading untraced listeners: %w", err)
	}
	var perCPU []uint64
	if err := c.objs.UntracedEvents.Lookup(uint32(0), &perCPU); err != nil {
		return nil, fmt.Errorf("reading untraced events: %w", err)
	}
	for _, n := range perCPU {
		ev.UntracedEvents += n
	}
	if err := c.readUnix(ev, get); err != nil {
		return nil, err
	}
	var ek bpfAcceptErrorKey
	it = c.objs.AcceptErrors.Iterate()
	for it.Next(&ek, &n) {
		e := AcceptErrors{Netns: uint64(ek.Netns), PID: int(ek.Tgid), Errno: ErrnoName(ek.Err), Count: n}
		if ek.Cookie == 0 {
			ev.UnattributedErrors = append(ev.UnattributedErrors, e)
			continue
		}
		le := get(Key{uint64(ek.Netns), ek.Cookie})
		le.AcceptErrors = append(le.AcceptErrors, e)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("reading accept errors: %w", err)
	}
	c.attachConnectEnter(ev)
	return ev, nil
}

// intervalHighWater is st's accept-queue high water in epoch e: its slot
// for e, filled by the first event of e or of the epoch after; without,
// no event happened since e began and the queue kept its last length.
func intervalHighWater(st *bpfListenerStats, e uint32) uint32 {
	if slot := st.EpochHw[e&1]; uint32(slot>>32) == e {
		return uint32(slot)
	}
	return st.LastLen
}

// Filled reports whether the listener's accept queue was seen full while
// traced: longer than its backlog at an enqueue, or an overflow at ACK time.
func (le *ListenerEvidence) Filled() bool {
	return le.AcceptQueueHighWater > le.MaxBacklog || le.AckOverflows+le.CookieAckOverflows > 0
}

func (c *Collector) reasonName(r uint32) string {
	if name, ok := c.reasons[r]; ok {
		return name
	}
	return fmt.Sprintf("REASON_%d", r)
}

// ErrnoName is errno's symbolic name (EMFILE), or "errno N" when unknown.
func ErrnoName(errno int32) string {
	if name := unix.ErrnoName(unix.Errno(errno)); name != "" {
		return name
	}
	return fmt.Sprintf("errno %d", errno)
}

// readListeners reads the listeners array into c.slots: from the table's
// mapping, only the slots a listener holds (a free slot is left with cookie
// 0); without one, every slot, in batches of system calls. A slot is copied
// as it is while the programs write it, as a lookup copies it too.
func (c *Collector) readListeners() error {
	if c.slots == nil {
		c.slots = make([]bpfListenerStats, c.tableSlots)
		c.slotKeys = make([]uint32, listenerBatch)
		c.table = mapTable(c.objs.Listeners, c.tableSlots)
	}
	if c.table != nil {
		c.readMapped()
		return nil
	}
	var cursor ebpf.MapBatchCursor
	for off := 0; off < len(c.slots); {
		vals := c.slots[off:min(off+listenerBatch, len(c.slots))]
		n, err := c.objs.Listeners.BatchLookup(&cursor, c.slotKeys[:len(vals)], vals, nil)
		off += n
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// mapTable maps the listeners array (created BPF_F_MMAPABLE) read-only into
// this process; nil where the kernel refuses. Close unmaps it.
func mapTable(m *ebpf.Map, slots int) []byte {
	size := slots * int(unsafe.Sizeof(bpfListenerStats{}))
	page := os.Getpagesize()
	b, err := unix.Mmap(m.FD(), 0, (size+page-1)/page*page, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil
	}
	return b
}

// readMapped copies the slots in use from the table's mapping: a slot's
// cookie first, the whole slot when a listener holds it.
func (c *Collector) readMapped() {
	const size = int(unsafe.Sizeof(bpfListenerStats{}))
	cookieAt := int(unsafe.Offsetof(bpfListenerStats{}.Cookie))
	for i := range c.slots {
		st := &c.slots[i]
		slot := c.table[i*size : (i+1)*size]
		if binary.NativeEndian.Uint64(slot[cookieAt:]) == 0 {
			st.Cookie = 0
			continue
		}
		copy(unsafe.Slice((*byte)(unsafe.Pointer(st)), size), slot)
	}
}

// listenerBatch is how many slots one system call reads.
const listenerBatch = 512

// readUnix reads the Unix listeners' blocked connects into their evidence
// and the connect() refusals into ev.
func (c *Collector) readUnix(ev *Evidence, get func(Key) *ListenerEvidence) error {
	var bk bpfUnixBlockedKey
	var b bpfUnixBlockedStats
	it := c.objs.UnixBlocked.Iterate()
	for it.Next(&bk, &b) {
		le := get(Key{uint64(bk.Netns), bk.Cookie})
		le.Unix = true
		le.ConnectBlocked = ConnectWait{Count: b.Count, SumNs: b.SumNs, MaxNs: b.MaxNs}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading blocked connects: %w", err)
	}
	var rk bpfConnectRefusalKey
	var n uint64
	it = c.objs.ConnectRefusals.Iterate()
	for it.Next(&rk, &n) {
		ev.ConnectRefusals = append(ev.ConnectRefusals, ConnectRefusal{Netns: uint64(rk.Netns), PID: int(rk.Tgid),
			Type: rk.Type, SunPath: sunPath(rk.Path[:min(int(rk.Len), len(rk.Path))]), Count: n})
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading connect refusals: %w", err)
	}
	return nil
}

// sunPath is a copy of an address's sun_path bytes p, a path cut at its
// first NUL.
func sunPath(p []byte) []byte {
	if len(p) > 0 && p[0] != 0 {
		if i := bytes.IndexByte(p, 0); i >= 0 {
			p = p[:i]
		}
	}
	return bytes.Clone(p)
}

// bucketsSum is the number of waits a listener's histogram holds: the
// programs count each wait in its bucket only.
func bucketsSum(b [40]uint64) uint64 {
	var n uint64
	for _, v := range b {
		n += v
	}
	return n
}
