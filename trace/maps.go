package trace

// Map sizes, as in bpf/trace.c. Memory is what the kernel charges for the
// preallocated entries (key + value + ~70 bytes of htab/LRU element each, per
// possible CPU for the LRU free lists' bookkeeping aside); Collector.Memory
// reports the real figure from the kernel.
const (
	// ListenerSlots: per-listener stats (LISTENER_SLOTS), 448-byte values:
	// 1.8 MiB. A listener's cookie picks a window of ListenerWays slots;
	// when all are taken, the listener idle longest gives up its slot.
	ListenerSlots = 4096
	// ListenerWays is LISTENER_WAYS.
	ListenerWays = 4
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
)

// WaitBuckets is WAIT_BUCKETS: bucket i counts waits in [2^i, 2^(i+1)) ns.
const WaitBuckets = 40

// dropDeferAccept is DROP_DEFER_ACCEPT: a bare ACK a TCP_DEFER_ACCEPT
// listener dropped (tcp_check_req returns NULL without a drop reason).
const dropDeferAccept = 0xffff

// DeferAcceptReason is the name reported for dropDeferAccept.
const DeferAcceptReason = "TCP_DEFER_ACCEPT"

// ListenOverflowReason is the drop reason of an ACK-time overflow
// (SKB_DROP_REASON_TCP_LISTEN_OVERFLOW without its prefix).
const ListenOverflowReason = "TCP_LISTEN_OVERFLOW"

// firstEpoch is cur_epoch's initial value: a new listener's zeroed
// per-epoch slots (epoch 0) hold no epoch a Snapshot closes.
const firstEpoch = 1

// listenerWindow is the first slot of cookie's window (listener_window
// with cookie_hash in bpf/trace.c).
func listenerWindow(cookie uint64) uint32 {
	return uint32((cookie*0x9E3779B97F4A7C15)>>32) & (ListenerSlots - 1)
}
