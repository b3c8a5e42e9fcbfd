package trace

// Map sizes, as in bpf/trace.c. Memory is what the kernel charges for the
// preallocated entries (key + value + ~70 bytes of htab/LRU element each, per
// possible CPU for the LRU free lists' bookkeeping aside); Collector.Memory
// reports the real figure from the kernel.
const (
	// MaxListeners: per-listener stats, 424-byte values: ~1 MiB.
	MaxListeners = 2048
	// MaxDropKeys: (listener, drop reason) counters, 16+8 bytes: ~0.7 MiB.
	MaxDropKeys = 8192
	// MaxAcceptErrorKeys: (listener, process, errno) counters, 24+8 bytes: ~0.4 MiB.
	MaxAcceptErrorKeys = 4096
	// InflightSets: the sets of the table of connections in accept queues
	// being timed (INFLIGHT_SETS), each of InflightWays slots of 8+8 bytes:
	// 1 MiB. The low bits of a child's socket cookie pick its set; when more
	// than InflightWays children of one set wait at once, the set's oldest
	// entry is replaced and that wait is not measured. The kernel hands
	// cookies out in consecutive runs per CPU, so children waiting at once
	// spread over consecutive sets (TestAcceptWaitDeepQueue: 3,000 waiting,
	// all timed).
	InflightSets = 8192
	// InflightWays is INFLIGHT_WAYS.
	InflightWays = 8
)

// waitBuckets is WAIT_BUCKETS: bucket i counts waits in [2^i, 2^(i+1)) ns.
const waitBuckets = 40

// dropDeferAccept is DROP_DEFER_ACCEPT: a bare ACK a TCP_DEFER_ACCEPT
// listener dropped (tcp_check_req returns NULL without a drop reason).
const dropDeferAccept = 0xffff

// DeferAcceptReason is the name reported for dropDeferAccept.
const DeferAcceptReason = "TCP_DEFER_ACCEPT"

// firstEpoch is cur_epoch's initial value: a new listener's zeroed
// per-epoch slots (epoch 0) hold no epoch a Snapshot closes.
const firstEpoch = 1
