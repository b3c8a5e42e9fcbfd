package trace

// Map sizes, as in bpf/trace.c. Memory is what the kernel charges for the
// preallocated entries (key + value + ~70 bytes of htab/LRU element each, per
// possible CPU for the LRU free lists' bookkeeping aside); Collector.Memory
// reports the real figure from the kernel.
const (
	// DefaultListenerSlots is the fewest slots the listener table has
	// (DEFAULT_LISTENER_SLOTS): 2 MiB. See ListenerSlotsFor.
	DefaultListenerSlots = 4096
	// ListenerSlotBytes is one slot's size (struct listener_stats).
	ListenerSlotBytes = 512
	// ListenerWays is LISTENER_WAYS: a listener's cookie picks a window of
	// that many slots, and it takes a free one or one whose listener closed.
	ListenerWays = 32
	// MaxNetnsFilter: the network namespaces a collector can be limited to.
	MaxNetnsFilter = 1024
	// netnsInline is NETNS_INLINE: up to that many, the programs compare
	// the namespace with constants instead of looking it up.
	netnsInline = 4
	// MaxDropKeys: (listener, drop reason) counters, 16+8 bytes: ~0.7 MiB.
	MaxDropKeys = 8192
	// MaxAcceptErrorKeys: (listener, process, errno) counters, 24+8 bytes: ~0.4 MiB.
	MaxAcceptErrorKeys = 4096
	// RingSlots: when each connection waiting in an accept queue entered
	// it, by its place in its listener's queue (RING_SLOTS), RingSlotBytes
	// each: 1.5 MiB. A listener's connections take consecutive slots from a
	// place its cookie picks; a slot is reused RING_SLOTS enqueues later or
	// by another listener's run reaching it, and the wait of the connection
	// it held is then not timed (TestAcceptWaitDeepQueue: 3,000 waiting,
	// all timed).
	RingSlots = 65536
	// RingSlotBytes: the listener and place, the time, the connection.
	RingSlotBytes = 24
	// MaxConnects: connect() calls on Unix sockets in progress at once
	// (MAX_CONNECTS), their start by task, 8+16 bytes: ~0.2 MiB. An LRU:
	// past it the oldest start is forgotten, and that connect's sleep, if
	// it slept, is not seen.
	MaxConnects = 2048
	// MaxUnixBlockedKeys: Unix listeners whose blocked connects are
	// counted (MAX_UNIX_BLOCKED_KEYS), 16+24 bytes: ~0.1 MiB.
	MaxUnixBlockedKeys = 1024
	// MaxConnectRefusalKeys: (process, address) pairs whose EAGAIN
	// refusals are counted (MAX_CONNECT_REFUSAL_KEYS), 124+8 bytes: ~0.2
	// MiB. An LRU: past it the pair refused longest ago is forgotten.
	MaxConnectRefusalKeys = 1024
)

// WaitBuckets is WAIT_BUCKETS: bucket i counts waits in [2^i, 2^(i+1)) ns.
const WaitBuckets = 40

// dropDeferAccept is DROP_DEFER_ACCEPT: a bare ACK a TCP_DEFER_ACCEPT
// listener dropped (tcp_check_req returns NULL without a drop reason).
const dropDeferAccept = 0xffff

// DeferAcceptReason is the name reported for dropDeferAccept.
const DeferAcceptReason = "TCP_DEFER_ACCEPT"

// dropCookieOverflow is DROP_COOKIE_OVERFLOW: a SYN cookie's ACK that found
// the accept queue full, which the kernel frees as NO_SOCKET
// (cookie_v4_check); reported as a ListenOverflowReason drop.
const dropCookieOverflow = 0xfffe

// ListenOverflowReason is the drop reason of an ACK-time overflow
// (SKB_DROP_REASON_TCP_LISTEN_OVERFLOW without its prefix).
const ListenOverflowReason = "TCP_LISTEN_OVERFLOW"

// firstEpoch is cur_epoch's initial value: a new listener's zeroed
// per-epoch slots (epoch 0) hold no epoch a Snapshot closes.
const firstEpoch = 1

// listenerWindow is the first slot of cookie's window in a table of slots
// (listener_window with cookie_hash in bpf/trace.c).
func listenerWindow(cookie uint64, slots uint32) uint32 {
	return uint32(uint64(cookieHash(cookie)) * uint64(slots) >> 32)
}

// slotTaking is SLOT_TAKING: a slot being reset for a new listener.
const slotTaking = ^uint64(0)

// ListenerHeadroom is how many more listeners than there are at start the
// table is sized for by default: a quarter more.
const ListenerHeadroom = 1.25

// ListenerSlotsFor is the listener table's size for n listeners: two slots
// each, so that a window of ListenerWays slots holding only live listeners
// (and a listener then left untraced) is unlikely (a simulation of 21,000
// listeners in 42,000 slots left none without a slot), and at least
// DefaultListenerSlots.
func ListenerSlotsFor(n int) int {
	return max(DefaultListenerSlots, 2*n)
}

// ListenerTableBytes is what a table of slots costs in kernel memory, with
// the untraced map of as many entries (16+8 bytes and a ~56-byte element
// each) and the drops map it sizes (ListenerDropKeys).
func ListenerTableBytes(slots int) uint64 {
	return uint64(slots)*(ListenerSlotBytes+untracedEntryBytes) + uint64(ListenerDropKeys(slots)-MaxDropKeys)*dropEntryBytes
}

const (
	untracedEntryBytes = 80
	dropEntryBytes     = 80
)

// ListenerDropKeys is the size of the (listener, drop reason) map for a
// listener table of slots: MaxDropKeys, or one key per slot if more.
func ListenerDropKeys(slots int) int { return max(MaxDropKeys, slots) }
