// SPDX-License-Identifier: (MIT OR GPL-2.0)
// backlogctl trace: per-listener accept-queue evidence from tracepoints only
// (tp_btf, and the classic per-syscall ones for accept), keyed by socket
// cookie. See trace/collector.go for the Go side.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define TCP_ESTABLISHED 1
#define TCP_SYN_RECV 3
#define TCP_LISTEN 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define AF_UNIX 1
#define SOCK_STREAM 1
#define SOCK_SEQPACKET 5
#define EAGAIN 11
#define EINPROGRESS 115
#define ECANCELED 125

#if defined(__TARGET_ARCH_arm64)
// arm64 syscall numbers (include/uapi/asm-generic/unistd.h). At sys_exit
// regs[0] holds the return value; the first argument is kept in orig_x0.
#define NR_ACCEPT 202
#define NR_ACCEPT4 242
#define NR_CONNECT 203
struct pt_regs___bl_arm64 {
	__u64 regs[31];
	__u64 orig_x0;
	__s32 syscallno;
} __attribute__((preserve_access_index));
#define SYSCALL_NR(regs) BPF_CORE_READ((struct pt_regs___bl_arm64 *)(regs), syscallno)
#define SYSCALL_ARG0(regs) BPF_CORE_READ((struct pt_regs___bl_arm64 *)(regs), orig_x0)
#define SYSCALL_ARG1(regs) BPF_CORE_READ((struct pt_regs___bl_arm64 *)(regs), regs[1])
#define SYSCALL_ARG2(regs) BPF_CORE_READ((struct pt_regs___bl_arm64 *)(regs), regs[2])
#else
// x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl).
#define NR_ACCEPT 43
#define NR_ACCEPT4 288
#define NR_CONNECT 42
#define SYSCALL_NR(regs) ((regs)->orig_ax)
#define SYSCALL_ARG0(regs) ((regs)->di)
#define SYSCALL_ARG1(regs) ((regs)->si)
#define SYSCALL_ARG2(regs) ((regs)->dx)
#endif

// WAIT_BUCKETS log2 buckets of nanoseconds: bucket i counts waits in
// [2^i, 2^(i+1)) ns; the last one everything from 2^39 ns (~9 min) up.
#define WAIT_BUCKETS 40

// DROP_DEFER_ACCEPT labels a bare ACK that a TCP_DEFER_ACCEPT listener
// dropped (tcp_check_req returns NULL without a reason): not a kernel enum value.
#define DROP_DEFER_ACCEPT 0xffff
// DROP_COOKIE_OVERFLOW labels a SYN cookie's ACK that found the accept queue
// full: cookie_v4_check/cookie_v6_check free it as NO_SOCKET when
// tcp_get_cookie_sock gets no child (syn_recv_sock counted ListenOverflows).
#define DROP_COOKIE_OVERFLOW 0xfffe

// listener_stats: the fields the enqueue side writes (sk_data_ready, on the
// CPU that took the final ACK) come first, and those accept() writes start
// on their own cache line, so the two sides of a busy listener do not pull
// one line back and forth between CPUs at every connection.
struct listener_stats {
	__u64 cookie; // the listener's socket cookie; 0: a free slot
	__u64 netns;
	// sk is the listening socket's address, for telling (listener_alive)
	// whether the slot's listener still exists when another needs a slot.
	__u64 sk;
	__u64 enqueued;
	__u64 nonempty_since_ns;
	__u32 accept_queue_hw;
	__u32 syn_queue_hw;
	__u32 max_backlog;
	__u32 last_accept_tgid;
	__u64 accepted __attribute__((aligned(64)));
	// dequeued: the place in the queue (counted like enqueued) of the next
	// connection accept() takes; see ring.
	__u64 dequeued;
	__u64 last_accept_ns;
	// The waits' count is the sum of wait_buckets (user space adds them up):
	// one atomic fewer per wait.
	__u64 wait_sum_ns;
	__u64 wait_max_ns;
	__u64 wait_unmatched; // of the waits: timed from the place, not matched
	__u64 wait_buckets[WAIT_BUCKETS];
	// The per-interval high water: epoch_hw[e & 1] is (e << 32) | the
	// longest accept queue during epoch e (see cur_epoch), one word so that
	// opening an epoch and raising its maximum is a single compare-and-swap.
	__u64 epoch_hw[2];
	// last_len is the accept queue's length after this listener's last
	// traced event: its length throughout any epoch without an event.
	// queue_seen is set once epoch_event has run: stats made by another
	// program (a drop, a SYN-ACK retransmit) know nothing of the queue.
	__u32 last_len;
	__u32 queue_seen;
	// base_len is the queue's length before this listener's first traced
	// event: in queue mode accepted = enqueued + base_len - the length now.
	__u32 base_len;
	// unix_listener is set for an AF_UNIX listener, whose queue is its
	// sk_receive_queue (unix_stream_connect), not an inet accept queue.
	__u32 unix_listener;
	// Queue mode (no accept hook): dequeued is inferred at each enqueue,
	// the enqueued less the queue's length, and known since
	// dequeued_known_ns; the connections found taken between two enqueues
	// waited at most until the later one, at least until the earlier (the
	// widest such gap is wait_bound_max_ns); past BOUND_PER_EVENT at once
	// they are wait_unbounded.
	__u64 dequeued_known_ns;
	__u64 wait_bound_max_ns;
	__u64 wait_unbounded;
};

struct drop_key {
	__u64 cookie;
	__u32 netns;
	__u32 reason;
};

struct accept_error_key {
	__u64 cookie;
	__u32 netns;
	__u32 tgid;
	__s32 err;
	__u32 pad;
};

// Map sizes: the Go side (trace/maps.go) names them and their memory cost.
// The listener table's size is set when the programs are loaded
// (listener_slots), from the number of listeners then.
#define DEFAULT_LISTENER_SLOTS 4096
#define LISTENER_WAYS 32
#define MAX_DROP_KEYS 8192
#define MAX_ACCEPT_ERROR_KEYS 4096
#define MAX_NETNS_FILTER 1024

// listeners: each listener's stats, in an array of listener_slots slots: a
// listener's cookie picks a window of LISTENER_WAYS consecutive slots, and
// its stats are in the slot of the window that holds its cookie. A lookup is
// inlined to an address computation and a compare, with no hashing or
// bucket walk (the LRU hash this replaces cost about 80 ns per lookup, two
// per connection). A new listener takes a free slot of its window, or one
// whose listener has closed; a listener that finds neither is not traced,
// and says so in untraced: no listener's figures are ever dropped to make
// room for another's.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DEFAULT_LISTENER_SLOTS);
	__type(key, __u32);
	__type(value, struct listener_stats);
} listeners SEC(".maps");

// listener_slots is the listeners array's size, set at load.
volatile const __u32 listener_slots = DEFAULT_LISTENER_SLOTS;

// untraced counts, by listener, the events of listeners that found no slot
// (their window held live listeners only); untraced_events all of them, so
// that listeners this map had no room for are known to exist. A hash, not
// an LRU: it never forgets one it holds. Sized at load like listeners.
struct untraced_key {
	__u64 cookie;
	__u32 netns;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DEFAULT_LISTENER_SLOTS);
	__type(key, struct untraced_key);
	__type(value, __u64);
} untraced SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} untraced_events SEC(".maps");

// netns_filter: with filter_netns set, only listeners in these network
// namespaces (by inode) are traced; events in others return at once. Up to
// NETNS_INLINE of them are also in netns_inline (filter_netns of them), so
// that the usual case, one namespace, is a compare, not a hash lookup.
#define NETNS_INLINE 4
volatile const __u32 filter_netns = 0;
volatile const __u32 netns_inline[NETNS_INLINE];

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_NETNS_FILTER);
	__type(key, __u32);
	__type(value, __u8);
} netns_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_DROP_KEYS);
	__type(key, struct drop_key);
	__type(value, __u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_ACCEPT_ERROR_KEYS);
	__type(key, struct accept_error_key);
	__type(value, __u64);
} accept_errors SEC(".maps");

// ring: when each connection entered its listener's accept queue, by its
// place in that queue. A listener's queue is first in, first out, so the
// n-th connection sk_data_ready sees enter it (counting from 0: the
// listener's `enqueued` before the event) is the n-th one accept() takes
// (`dequeued`). Its time is in slot (ring_base(listener) + n) mod
// RING_SLOTS, tagged with the listener and n, and with the connection at
// the queue's tail at that moment, which accept() checks against the
// connection it got: where enqueues on two CPUs ran sk_data_ready in the
// other order, or two accept()s returned in the other order, neighbours'
// places are swapped, and the connection's own slot is found beside its
// place. A listener's connections take consecutive slots from a place its
// cookie picks; a slot is overwritten RING_SLOTS enqueues later, or by
// another listener's run of slots reaching it, and the wait of the
// connection it held is then not timed. An array map: a lookup is inlined
// to an address computation; and no program runs at the connection's own
// state changes (inet_sock_set_state fires six times per connection).
#define RING_SLOTS 65536 // a power of two

struct ring_slot {
	__u64 tag;   // ring_tag(listener cookie, n); 0: never written
	__u64 since; // bpf_ktime_get_ns at sk_data_ready
	__u32 conn;  // conn_tag of the queue's tail then: the connection, but
	             // for another CPU's enqueue in between; 0: none read
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RING_SLOTS);
	__type(key, __u32);
	__type(value, struct ring_slot);
} ring SEC(".maps");

#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))

// cookie_hash spreads socket cookies (handed out in consecutive runs) over
// 32 bits: the ring and the listeners' array place a listener by it.
static __always_inline __u32 cookie_hash(__u64 cookie)
{
	return (__u32)(cookie * 0x9E3779B97F4A7C15ULL >> 32);
}

static __always_inline __u64 ring_tag(__u64 cookie, __u64 n)
{
	return (cookie << 32) | (__u32)n;
}

// conn_tag identifies a connection among its listener's: its remote
// address and port, folded to 32 bits; never 0.
static __always_inline __u32 conn_tag(const struct sock *sk)
{
	__u32 a = sk->__sk_common.skc_daddr ^ sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[3];
	return ((a * 0x9E3779B1U) ^ sk->__sk_common.skc_dport) | 1;
}

static __always_inline struct ring_slot *ring_slot_of(__u64 cookie, __u64 n)
{
	__u32 k = (cookie_hash(cookie) + (__u32)n) & (RING_SLOTS - 1);
	return bpf_map_lookup_elem(&ring, &k);
}

// queue_mode: no accept hook is attached (trace --trace-mode queue):
// bl_data_ready infers the accepts from the queue's length at each enqueue.
volatile const __u32 queue_mode = 0;

// BOUND_PER_EVENT bounds the waits one enqueue times in queue mode.
#define BOUND_PER_EVENT 128

// cur_epoch is the epoch events are counted in. User space advances it at
// each read (watch's interval, the exporter's scrape), closing the epoch
// before; a listener's epoch_hw slot for that epoch is then final, as its
// next write is for epoch+2, after the next read. It starts at 1: a new
// listener's zeroed slots (epoch 0) belong to no epoch anyone reads.
volatile __u32 cur_epoch = 1;


static __always_inline void raise_u32(__u32 *p, __u32 v)
{
	for (int i = 0; i < 4; i++) {
		__u32 old = *p;
		if (v <= old)
			return;
		if (__sync_val_compare_and_swap(p, old, v) == old)
			return;
	}
}

static __always_inline void raise_u64(__u64 *p, __u64 v)
{
	for (int i = 0; i < 4; i++) {
		__u64 old = *p;
		if (v <= old)
			return;
		if (__sync_val_compare_and_swap(p, old, v) == old)
			return;
	}
}

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0;
	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) { r += 1; }
	return r;
}

// epoch_slot_raise makes *p hold epoch e's maximum with len in it: if the
// slot holds an older epoch, it is reopened for e with max(seed, len); seed
// is the queue's length before this event.
static __always_inline void epoch_slot_raise(__u64 *p, __u32 e, __u32 seed, __u32 len)
{
	for (int i = 0; i < 4; i++) {
		__u64 old = *p;
		__u32 hw = len;
		if ((__u32)(old >> 32) == e) {
			if ((__u32)old >= len)
				return;
		} else if (seed > hw) {
			hw = seed;
		}
		if (__sync_val_compare_and_swap(p, old, ((__u64)e << 32) | hw) == old)
			return;
	}
}

// epoch_event records the accept queue around one event at listener s:
// seed just before it, len after. With no traced event in an epoch the
// queue's length does not change (enqueues and accepts are the events;
// io_uring's accepts are not seen, and make this off by their number), so
// the first event of epoch e also closes e-1 if nothing did: e-1's maximum
// is seed, the length the queue held since the event before. Races: a
// late event of e-1 (it read cur_epoch just before user space advanced it)
// lands in e-1's slot as user space reads it, or opens e's slot at once, and
// concurrent events on other CPUs between a dequeue and its accept() exit
// shift the seed by those events: at the boundary, the high water of an
// epoch can be off by the events in flight at that moment, not more. Each
// slot update is one compare-and-swap; four failed in a row (four other
// CPUs changing it meanwhile) lose this event's raise.
static __always_inline void epoch_event(struct listener_stats *s, __u32 seed, __u32 len)
{
	__u32 e = cur_epoch;
	__u64 *prev = &s->epoch_hw[(e - 1) & 1];
	__u64 *now = &s->epoch_hw[e & 1];
	if ((__u32)(*now >> 32) != e && (__u32)(*prev >> 32) != e - 1)
		epoch_slot_raise(prev, e - 1, seed, seed);
	epoch_slot_raise(now, e, seed, len);
	if (s->last_len != len)
		s->last_len = len;
	if (!s->queue_seen) {
		s->base_len = seed;
		s->queue_seen = 1;
	}
}

// The programs read kernel structures by direct loads from BTF-typed
// pointers (the verifier turns them into checked loads; no helper call per
// field); bpf_rdonly_cast, inlined to nothing, gives such a pointer a wider
// or different kernel type.
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define CAST(ptr, type) ((struct type *)bpf_rdonly_cast((ptr), bpf_core_type_id_kernel(struct type)))

static __always_inline __u32 sk_netns(const struct sock *sk)
{
	return sk->__sk_common.skc_net.net->ns.inum;
}

// unix_conn_tag identifies a Unix connection among its listener's by the
// embryo socket unix_stream_connect queues (as the owner of its skb) and
// accept() returns: the inode of its peer, the connecting socket (what
// unix_diag's UNIX_DIAG_ICONS lists for a queued connection); 0 once the
// client has closed (sock_orphan).
static __always_inline __u32 unix_conn_tag(const struct sock *embryo)
{
	struct sock *client = CAST(embryo, unix_sock)->peer;
	if (!client || !client->sk_socket)
		return 0;
	return (__u32)CAST(client->sk_socket, socket_alloc)->vfs_inode.i_ino;
}

// syn_queue_len is the listener's request-socket count (inet_csk_reqsk_queue_len).
static __always_inline __u32 syn_queue_len(const struct sock *sk)
{
	return CAST(sk, inet_connection_sock)->icsk_accept_queue.qlen.counter;
}

// traced_netns reports whether listeners in network namespace netns are
// traced: all of them, or those in netns_filter.
static __always_inline bool traced_netns(__u32 netns)
{
	__u32 n = filter_netns;
	if (!n)
		return true;
	if (n <= NETNS_INLINE) {
		for (__u32 i = 0; i < NETNS_INLINE; i++)
			if (i < n && netns_inline[i] == netns)
				return true;
		return false;
	}
	return bpf_map_lookup_elem(&netns_filter, &netns);
}

// listener_window is the first slot of cookie's window: cookie_hash scaled
// to listener_slots (a multiply and a shift, for any table size).
static __always_inline __u32 listener_window(__u64 cookie)
{
	return (__u32)(((__u64)cookie_hash(cookie) * listener_slots) >> 32);
}

// listener_alive reports whether slot s's listener still listens: the socket
// at its recorded address is a listener with its cookie. A closed listener
// is in TCP_CLOSE before it is freed, and freed memory reused by another
// socket holds another cookie (cookies are never reused); reading freed
// memory through an untrusted pointer cannot fault.
static __always_inline bool listener_alive(const struct listener_stats *s, __u64 cookie)
{
	if (!s->sk)
		return true; // just claimed: its taker records the socket next
	const struct sock *sk = CAST((void *)s->sk, sock);
	return sk->__sk_common.skc_state == TCP_LISTEN && sk->__sk_common.skc_cookie.counter == cookie;
}

// NO_SLOT is slot_of's result for a listener without a slot.
#define NO_SLOT 0xffffffff

// SLOT_CLAIMED, or'ed into slot_of's result, says the slot was just taken:
// the caller records the listener's socket in it (a global function's
// arguments are numbers, not pointers).
#define SLOT_CLAIMED 0x80000000

// claim makes slot s listener cookie's, from the free state (cookie 0):
// SLOT_CLAIMED if this call took it, 0 if it was already cookie's, NO_SLOT
// if another listener's.
static __always_inline __u32 claim(struct listener_stats *s, __u64 cookie, __u32 netns)
{
	__u64 was = __sync_val_compare_and_swap(&s->cookie, 0, cookie);
	if (was != 0)
		return was == cookie ? 0 : NO_SLOT;
	s->netns = netns;
	return SLOT_CLAIMED;
}

// SLOT_TAKING marks a slot being reset for a new listener (take_over).
#define SLOT_TAKING (~0ULL)

// take_over makes slot s, held by closed listener old, listener cookie's:
// one compare-and-swap decides which of several new listeners gets it, the
// others leave it be while it is reset.
static __always_inline bool take_over(struct listener_stats *s, __u64 old, __u64 cookie, __u32 netns)
{
	if (__sync_val_compare_and_swap(&s->cookie, old, SLOT_TAKING) != old)
		return false;
	__u64 *w = (__u64 *)s;
	for (__u32 i = 1; i < sizeof(*s) / sizeof(__u64); i++)
		w[i] = 0;
	s->netns = netns;
	__sync_val_compare_and_swap(&s->cookie, SLOT_TAKING, cookie);
	return true;
}

// untraced_event counts an event of a listener that has no slot.
static __always_inline void untraced_event(__u64 cookie, __u32 netns)
{
	__u32 z0 = 0;
	__u64 *total = bpf_map_lookup_elem(&untraced_events, &z0);
	if (total)
		*total += 1;
	struct untraced_key k = {.cookie = cookie, .netns = netns};
	__u64 one = 1;
	__u64 *n = bpf_map_lookup_elem(&untraced, &k);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&untraced, &k, &one, BPF_NOEXIST);
}


// slot_of is the slot of listener lsk's stats (cookie, netns), taking one
// for it if it has none: a free one of its window, else one whose listener
// closed. Slots are never freed, only taken over, so a listener's slot is
// before the first free one of its window. NO_SLOT when every slot of the
// window holds a live listener: the event is counted in untraced. A global
// function, verified once on its own: the verifier does not carry each way
// out of its loops into the rest of the caller.
struct slot_scan {
	__u64 cookie;
	__u32 base;
	__u32 slots;
	__u32 netns;
	__u32 take_closed; // second pass: take over a closed listener's slot
	__u32 result;
};

// scan_way looks at way i of a listener's window (bpf_loop's callback: the
// verifier checks it once, not once per way): 1 stops the scan, with
// result set.
static long scan_way(__u32 i, struct slot_scan *sc)
{
	__u32 k = sc->base + i;
	if (k >= sc->slots)
		k -= sc->slots;
	struct listener_stats *s = bpf_map_lookup_elem(&listeners, &k);
	if (!s)
		return 1;
	__u64 c = READ_ONCE(s->cookie);
	if (c == sc->cookie) {
		sc->result = k;
		return 1;
	}
	if (c == 0) {
		__u32 r = claim(s, sc->cookie, sc->netns);
		if (r != NO_SLOT) {
			sc->result = k | r;
			return 1;
		}
		return 0;
	}
	if (sc->take_closed && c != SLOT_TAKING && !listener_alive(s, c) && take_over(s, c, sc->cookie, sc->netns)) {
		sc->result = k | SLOT_CLAIMED;
		return 1;
	}
	return 0;
}

__attribute__((noinline)) __u32 slot_of(__u64 cookie, __u32 netns)
{
	struct slot_scan sc = {.cookie = cookie, .base = listener_window(cookie), .slots = listener_slots,
			       .netns = netns, .result = NO_SLOT};
	bpf_loop(LISTENER_WAYS, scan_way, &sc, 0);
	if (sc.result != NO_SLOT)
		return sc.result;
	// The window is full: take over the first slot whose listener closed.
	sc.take_closed = 1;
	bpf_loop(LISTENER_WAYS, scan_way, &sc, 0);
	if (sc.result != NO_SLOT)
		return sc.result;
	untraced_event(cookie, netns);
	return NO_SLOT;
}

// stats_at is listener lsk's stats at slot_of's result r, recording its
// socket in a slot just claimed; NULL when it has no slot.
static __always_inline struct listener_stats *stats_at(const struct sock *lsk, __u32 r, __u32 *slot)
{
	if (r == NO_SLOT)
		return 0;
	__u32 k = r & ~SLOT_CLAIMED;
	struct listener_stats *s = bpf_map_lookup_elem(&listeners, &k);
	if (s && (r & SLOT_CLAIMED))
		s->sk = (__u64)lsk;
	*slot = k;
	return s;
}

// find_stats is listener lsk's stats and slot (*slot), or NULL when it has
// none. The first slot of its window, where a listener usually is, is
// looked at here, inline; the rest by slot_of.
static __always_inline struct listener_stats *find_stats(const struct sock *lsk, __u64 cookie, __u32 netns, __u32 *slot)
{
	__u32 k = listener_window(cookie);
	struct listener_stats *s = bpf_map_lookup_elem(&listeners, &k);
	if (s && READ_ONCE(s->cookie) == cookie) {
		*slot = k;
		return s;
	}
	return stats_at(lsk, slot_of(cookie, netns), slot);
}

// stats_of is listener lsk's stats, or NULL when it has no slot.
static __always_inline struct listener_stats *stats_of(const struct sock *lsk, __u64 cookie, __u32 netns)
{
	__u32 k;
	return find_stats(lsk, cookie, netns, &k);
}

// record_wait adds one accept-queue wait to s's histogram.
static __always_inline void record_wait(struct listener_stats *s, __u64 wait)
{
	__u32 b = log2_u64(wait);
	if (b >= WAIT_BUCKETS)
		b = WAIT_BUCKETS - 1;
	__sync_fetch_and_add(&s->wait_buckets[b], 1);
	__sync_fetch_and_add(&s->wait_sum_ns, wait);
	raise_u64(&s->wait_max_ns, wait);
}

// infer_accepts: in queue mode, an enqueue at now found the connections at
// places before `taken` accepted (enqueued less the queue's length). Those
// from the last known place were taken since dequeued_known_ns: each waited
// at most now - its enqueue (recorded), and at least dequeued_known_ns - its
// enqueue. Those queued before tracing began have no enqueue time. A global
// function (slot k's stats), verified once: its loop's ways do not multiply
// the caller's.
struct bound_scan {
	__u32 k;
	__u64 cookie;
	__u64 from;
	__u64 taken;
	__u64 now;
	__u64 known;
};

// bound_wait times the connection at place from + i (bpf_loop's callback).
static long bound_wait(__u32 i, struct bound_scan *b)
{
	__u64 m = b->from + i;
	if (m == b->taken)
		return 1;
	if ((__s64)m < 0)
		return 0; // queued before tracing began
	struct ring_slot *sl = ring_slot_of(b->cookie, m);
	if (!sl || READ_ONCE(sl->tag) != ring_tag(b->cookie, m))
		return 0; // its slot since reused
	struct listener_stats *s = bpf_map_lookup_elem(&listeners, &b->k);
	if (!s)
		return 1;
	__u64 since = READ_ONCE(sl->since);
	__u64 upper = b->now > since ? b->now - since : 0;
	__u64 lower = b->known > since ? b->known - since : 0;
	record_wait(s, upper);
	raise_u64(&s->wait_bound_max_ns, upper - lower);
	return 0;
}

__attribute__((noinline)) int infer_accepts(__u32 k, __u64 cookie, __u64 taken, __u64 now)
{
	struct listener_stats *s = bpf_map_lookup_elem(&listeners, &k);
	if (!s)
		return 0;
	__u64 from = s->dequeued, known = s->dequeued_known_ns;
	if ((__s64)(taken - from) <= 0) {
		s->dequeued_known_ns = now;
		return 0;
	}
	if (__sync_val_compare_and_swap(&s->dequeued, from, taken) != from)
		return 0; // another CPU's enqueue is timing them
	s->dequeued_known_ns = now;
	s->last_accept_ns = now;
	struct bound_scan b = {.k = k, .cookie = cookie, .from = from, .taken = taken, .now = now, .known = known};
	bpf_loop(BOUND_PER_EVENT, bound_wait, &b, 0);
	if (taken - from > BOUND_PER_EVENT)
		__sync_fetch_and_add(&s->wait_unbounded, taken - from - BOUND_PER_EVENT);
	return 0;
}

// enqueued records one connection entering listener sk's queue, now qlen
// long; conn tags it for accept() to find (0: not read). unix says sk is
// an AF_UNIX listener: no SYN queue. Always inlined with unix constant, so
// the TCP and the Unix listener each get their own copy.
static __always_inline int enqueued(const struct sock *sk, __u32 netns, __u64 cookie, __u32 k,
				    struct listener_stats *s, __u32 qlen, __u32 conn, __u64 now, bool unix)
{
	__u64 n = __sync_fetch_and_add(&s->enqueued, 1);
	if (!s->queue_seen) {
		s->dequeued = n + 1 - qlen; // those queued before tracing began are not timed
		if (queue_mode)
			s->dequeued_known_ns = now;
	} else if (queue_mode) {
		infer_accepts(k, cookie, n + 1 - qlen, now);
	}
	struct ring_slot *sl = ring_slot_of(cookie, n);
	if (sl) {
		// The time before the tag: a reader that finds the tag finds the time.
		WRITE_ONCE(sl->since, now);
		WRITE_ONCE(sl->conn, conn);
		WRITE_ONCE(sl->tag, ring_tag(cookie, n));
	}
	raise_u32(&s->accept_queue_hw, qlen);
	epoch_event(s, qlen > 0 ? qlen - 1 : 0, qlen);
	if (unix) {
		if (!s->unix_listener)
			s->unix_listener = 1;
	} else {
		raise_u32(&s->syn_queue_hw, syn_queue_len(sk));
	}
	__u32 max_backlog = sk->sk_max_ack_backlog;
	if (s->max_backlog != max_backlog) // no write, no cache-line transfer, when unchanged
		s->max_backlog = max_backlog;
	if (qlen == 1)
		s->nonempty_since_ns = now;
	return 0;
}

// listener_of is listener sk's stats, with its namespace, cookie and slot;
// NULL when its namespace is not traced or it has no slot.
static __always_inline struct listener_stats *listener_of(const struct sock *sk, __u32 *netns, __u64 *cookie, __u32 *k)
{
	*netns = sk_netns(sk);
	if (!traced_netns(*netns))
		return 0;
	// The cookie as the socket holds it; the helper (a call) makes one
	// only for a listener nothing asked for one yet.
	__u64 c = sk->__sk_common.skc_cookie.counter;
	*cookie = c ? c : bpf_get_socket_cookie((void *)sk);
	return find_stats(sk, *cookie, *netns, k);
}

static int unix_enqueued(const struct sock *sk);

// A connection entered a listener's queue: a TCP handshake completed
// (tcp_child_process -> parent->sk_data_ready, or a Fast Open child in
// tcp_conn_request; sk_ack_backlog already counts it), or a Unix
// connect() queued its embryo (unix_enqueued).
SEC("tp_btf/sk_data_ready")
int BPF_PROG(bl_data_ready, const struct sock *sk)
{
	if (sk->__sk_common.skc_state != TCP_LISTEN)
		return 0;
	if (sk->__sk_common.skc_family == AF_UNIX)
		return unix_enqueued(sk);
	__u32 netns, k;
	__u64 cookie;
	struct listener_stats *s = listener_of(sk, &netns, &cookie, &k);
	if (!s)
		return 0;
	__u32 conn = 0;
	// Only an accept hook matches a connection to its slot: queue mode
	// times places, and leaves the connection's socket unread.
	struct request_sock *tail = queue_mode ? 0 : CAST(sk, inet_connection_sock)->icsk_accept_queue.rskq_accept_tail;
	if (tail && tail->sk)
		conn = conn_tag(tail->sk);
	return enqueued(sk, netns, cookie, k, s, sk->sk_ack_backlog, conn, bpf_ktime_get_ns(), false);
}

// A SYN-ACK was retransmitted for a request socket: the SYN queue is sampled here too.
SEC("tp_btf/tcp_retransmit_synack")
int BPF_PROG(bl_synack, const struct sock *sk, const struct request_sock *req)
{
	if (sk->__sk_common.skc_state != TCP_LISTEN)
		return 0;
	__u32 netns = sk_netns(sk);
	if (!traced_netns(netns))
		return 0;
	__u64 cookie = bpf_get_socket_cookie((void *)sk);
	struct listener_stats *s = stats_of(sk, cookie, netns);
	if (s)
		raise_u32(&s->syn_queue_hw, syn_queue_len(sk));
	return 0;
}

// A packet was dropped with a reason while a listener was receiving it.
SEC("tp_btf/kfree_skb")
int BPF_PROG(bl_kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason, struct sock *rx_sk)
{
	if (!rx_sk || rx_sk->__sk_common.skc_state != TCP_LISTEN)
		return 0;
	__u32 netns = sk_netns(rx_sk);
	if (!traced_netns(netns))
		return 0;
	__u64 cookie = bpf_get_socket_cookie(rx_sk);
	struct listener_stats *s = stats_of(rx_sk, cookie, netns);
	__u32 max_backlog = rx_sk->sk_max_ack_backlog;
	__u32 r = reason;
	if (r == bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_NOT_SPECIFIED) &&
	    CAST(rx_sk, inet_connection_sock)->icsk_accept_queue.rskq_defer_accept > 0) {
		r = DROP_DEFER_ACCEPT;
	} else if (r == bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_NO_SOCKET)) {
		// At a listener, NO_SOCKET is a SYN cookie's ACK that got no child
		// (cookie_v4_check): an overflow if syn_recv_sock found the queue
		// full. It is full now, or was at the last event traced here and an
		// accept() on another CPU, not yet seen returning, took one since
		// the kernel's check. Otherwise the child could not be made (memory,
		// a duplicate of a connection just made from the same cookie).
		if (rx_sk->sk_ack_backlog > max_backlog ||
		    (s && s->queue_seen && s->last_len > max_backlog))
			r = DROP_COOKIE_OVERFLOW;
	}
	struct drop_key k = {
		.cookie = cookie,
		.netns = netns,
		.reason = r,
	};
	__u64 one = 1;
	__u64 *n = bpf_map_lookup_elem(&drops, &k);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&drops, &k, &one, BPF_NOEXIST);
	if (s) {
		raise_u32(&s->syn_queue_hw, syn_queue_len(rx_sk));
		if (s->max_backlog != max_backlog)
			s->max_backlog = max_backlog;
	}
	return 0;
}

// file_sock is the socket behind file f, or NULL when f is not a socket's.
static __always_inline struct sock *file_sock(struct file *f)
{
	if (!f)
		return 0;
	struct file *file = CAST(f, file);
	if ((file->f_inode->i_mode & S_IFMT) != S_IFSOCK)
		return 0;
	return CAST(file->private_data, socket)->sk;
}

// current_fdt is the current task's descriptor table.
static __always_inline struct fdtable *current_fdt(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	return task->files->fdt;
}

// fdt_sock is the socket behind descriptor fd in table fdt, or NULL. The
// descriptor's slot is read by a load through a cast pointer (struct kiocb
// starts with a struct file *), not a helper call: the verifier allows no
// variable offset into a BTF-typed pointer, and the cast gives a new one.
static __always_inline struct sock *fdt_sock(struct fdtable *fdt, int fd)
{
	if (!fdt || fd < 0 || (unsigned int)fd >= fdt->max_fds)
		return 0;
	struct file **fds = fdt->fd;
	return file_sock(CAST(&fds[fd], kiocb)->ki_filp);
}

// fd_sock is the socket behind descriptor fd of the current task, or NULL.
static __always_inline struct sock *fd_sock(int fd)
{
	return fdt_sock(current_fdt(), fd);
}

// accepted: an accept on listener lsk (NULL: not resolved) returned ret: an
// error by errno, or a connection taken from the listener's queue (its
// descriptor in the current task, whose descriptor table is fdt, or NULL
// if not read yet), timed from its enqueue.
static __always_inline int accepted(struct sock *lsk, long ret, struct fdtable *fdt)
{
	__u64 cookie = 0;
	__u32 netns;
	if (lsk) {
		cookie = lsk->__sk_common.skc_cookie.counter;
		netns = sk_netns(lsk);
	} else {
		struct task_struct *task = bpf_get_current_task_btf();
		netns = task->nsproxy->net_ns->ns.inum;
	}
	if (!traced_netns(netns))
		return 0;
	if (ret < 0) {
		struct accept_error_key k = {
			.cookie = cookie,
			.netns = netns,
			.tgid = bpf_get_current_pid_tgid() >> 32,
			.err = (__s32)-ret,
		};
		__u64 one = 1;
		__u64 *n = bpf_map_lookup_elem(&accept_errors, &k);
		if (n)
			__sync_fetch_and_add(n, 1);
		else
			bpf_map_update_elem(&accept_errors, &k, &one, BPF_NOEXIST);
		return 0;
	}
	if (!cookie)
		return 0; // a listener no dump or enqueue has given a cookie yet
	bool unix = lsk->__sk_common.skc_family == AF_UNIX;
	if (!unix && lsk->sk_protocol != IPPROTO_TCP)
		return 0; // neither TCP's nor Unix's
	struct listener_stats *s = stats_of(lsk, cookie, netns);
	if (!s)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__sync_fetch_and_add(&s->accepted, 1);
	s->last_accept_ns = now;
	// On the enqueue side's cache line: written only when it changes.
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (s->last_accept_tgid != tgid)
		s->last_accept_tgid = tgid;
	__u32 qlen = unix ? lsk->sk_receive_queue.qlen : lsk->sk_ack_backlog;
	__u64 enq = s->enqueued;
	if (!s->queue_seen)
		s->dequeued = enq - qlen - 1; // this one and those behind it were queued before tracing
	__u64 n = __sync_fetch_and_add(&s->dequeued, 1);
	// An empty queue after this accept: it took the last connection in. This
	// puts dequeued back in step where accepts were not seen (io_uring) or
	// concurrent accepts took their places out of order.
	if (qlen == 0 && n + 1 != enq) {
		n = enq - 1;
		s->dequeued = enq;
	}
	epoch_event(s, qlen + 1, qlen);
	if (qlen > 0)
		s->nonempty_since_ns = now;
	__u64 since = 0;
	if ((__s64)(n - enq) >= 0) {
		// Taken by accept() on another CPU before its sk_data_ready ran
		// (the queue's insertion comes first): it waited no longer than that.
		since = now;
		__sync_fetch_and_add(&s->wait_unmatched, 1);
	} else {
		struct sock *child = fdt_sock(fdt ? fdt : current_fdt(), (int)ret);
		__u32 want = child ? (unix ? unix_conn_tag(child) : conn_tag(child)) : 0;
		// Its own place first, then the neighbours' (-1, +1, -2, +2).
		__u64 found = 0, at_place = 0;
		for (int i = 0; i < 5; i++) {
			__u64 m = n + (i & 1 ? -(__u64)((i + 1) / 2) : (__u64)(i / 2));
			struct ring_slot *sl = ring_slot_of(cookie, m);
			if (!sl || READ_ONCE(sl->tag) != ring_tag(cookie, m))
				continue; // queued before tracing, or its slot since reused
			__u64 t = READ_ONCE(sl->since);
			if (i == 0)
				at_place = t;
			if (want && READ_ONCE(sl->conn) == want) {
				found = t;
				break;
			}
		}
		since = found;
		if (!found) {
			// Not matched (another CPU's enqueue moved the tail before this
			// one's sk_data_ready read it): timed from its place.
			since = at_place;
			if (!since)
				return 0;
			__sync_fetch_and_add(&s->wait_unmatched, 1);
		}
	}
	record_wait(s, now > since ? now - since : 0);
	return 0;
}

// accept_done: accept()/accept4() on descriptor lfd returned ret.
static __always_inline int accept_done(int lfd, long ret)
{
	if (ret == -EAGAIN)
		return 0; // a non-blocking accept() with nothing queued: not an error
	struct fdtable *fdt = current_fdt();
	return accepted(fdt_sock(fdt, lfd), ret, fdt);
}

// Unix-socket listeners. A connect() to a Unix stream or seqpacket listener
// (unix_stream_connect) finds it full when its receive queue is longer than
// sk_max_ack_backlog (unix_recvq_full_lockless; a full queue holds
// backlog+1, as TCP's); a non-blocking one then fails with EAGAIN before
// anything is queued, a blocking one sleeps (unix_wait_for_peer) and tries
// again. No counter and no tracepoint inside sees either: the refusals are
// counted at connect()'s syscall exit, by the connecting process and the
// address it asked for (the listener is found from it in user space), and
// a blocking connect that slept is seen at its enqueue, which runs in the
// connecting task.

// connect_start: when a task's connect() on a Unix stream or seqpacket
// socket began, and its voluntary context switches then (task_struct
// nvcsw), by task (pid_tgid). The connect's enqueue, in the same task,
// finds it, and knows the connect slept if nvcsw moved.
struct connect_start {
	__u64 ns;
	__u64 nvcsw;
};

// Map sizes, named in trace/maps.go with their memory.
#define MAX_CONNECTS 2048
#define MAX_UNIX_BLOCKED_KEYS 1024
#define MAX_CONNECT_REFUSAL_KEYS 1024

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_CONNECTS);
	__type(key, __u64);
	__type(value, struct connect_start);
} connects SEC(".maps");

struct unix_blocked_key {
	__u64 cookie;
	__u32 netns;
	__u32 pad;
};

// unix_blocked: by listener, the connects that slept before their
// connection was queued, and for how long in all and at most (from
// connect()'s entry to the enqueue). A hash: it never forgets a listener
// it holds; one that finds it full is not counted.
struct unix_blocked_stats {
	__u64 count;
	__u64 sum_ns;
	__u64 max_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_UNIX_BLOCKED_KEYS);
	__type(key, struct unix_blocked_key);
	__type(value, struct unix_blocked_stats);
} unix_blocked SEC(".maps");

// connect_refusal_key: who was refused with EAGAIN, and at what address:
// the connecting socket's network namespace (where an abstract name is
// looked up), the process (whose root and working directory a path is
// resolved in), the socket's type, and the address as given: len bytes of
// sun_path (a leading NUL for an abstract name).
struct connect_refusal_key {
	__u32 netns;
	__u32 tgid;
	__u16 type;
	__u16 len;
	__u8 path[108];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_CONNECT_REFUSAL_KEYS);
	__type(key, struct connect_refusal_key);
	__type(value, __u64);
} connect_refusals SEC(".maps");

// connect_blocked: the current task just queued a connection on listener
// (cookie, netns); if its connect() slept since it began, count it.
static __always_inline void connect_blocked(__u64 cookie, __u32 netns, __u64 now)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct connect_start *c = bpf_map_lookup_elem(&connects, &id);
	if (!c)
		return;
	struct task_struct *task = bpf_get_current_task_btf();
	if (task->nvcsw != c->nvcsw) {
		__u64 wait = now > c->ns ? now - c->ns : 0;
		struct unix_blocked_key k = {.cookie = cookie, .netns = netns};
		struct unix_blocked_stats *b = bpf_map_lookup_elem(&unix_blocked, &k);
		if (!b) {
			struct unix_blocked_stats zero = {};
			bpf_map_update_elem(&unix_blocked, &k, &zero, BPF_NOEXIST);
			b = bpf_map_lookup_elem(&unix_blocked, &k);
		}
		if (b) {
			__sync_fetch_and_add(&b->count, 1);
			__sync_fetch_and_add(&b->sum_ns, wait);
			raise_u64(&b->max_ns, wait);
		}
	}
	bpf_map_delete_elem(&connects, &id);
}

// A Unix connect() queued its connection on listener sk: unix_stream_connect
// appends an skb owned by the embryo socket (which accept() will return) to
// the listener's sk_receive_queue, then calls sk_data_ready, in the
// connecting task. The queue's length is the receive queue's; unix
// listeners leave sk_ack_backlog alone.
static __attribute__((noinline)) int unix_enqueued(const struct sock *sk)
{
	__u32 netns, k;
	__u64 cookie;
	struct listener_stats *s = listener_of(sk, &netns, &cookie, &k);
	if (!s)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u32 conn = 0;
	if (!queue_mode) {
		struct sk_buff *tail = sk->sk_receive_queue.prev;
		if (tail && (__u64)tail != (__u64)&sk->sk_receive_queue && tail->sk)
			conn = unix_conn_tag(tail->sk);
		connect_blocked(cookie, netns, now);
	}
	return enqueued(sk, netns, cookie, k, s, sk->sk_receive_queue.qlen, conn, now, true);
}

// unix_connecting is the Unix stream or seqpacket socket behind descriptor
// fd of the current task, or NULL.
static __always_inline struct sock *unix_connecting(int fd)
{
	struct sock *sk = fd_sock(fd);
	if (!sk || sk->__sk_common.skc_family != AF_UNIX)
		return 0;
	__u16 type = sk->sk_type;
	if (type != SOCK_STREAM && type != SOCK_SEQPACKET)
		return 0;
	return sk;
}

// connect_done: connect(fd, uaddr, addrlen) failed with ret. On a Unix
// stream or seqpacket socket EAGAIN means the listener was full
// (unix_stream_connect returns it there only): counted by process and
// address. Abstract names are looked up in the connecting socket's
// namespace, so the namespace filter applies; a path may lead to a listener
// in any namespace, so those are all counted.
static __always_inline int connect_done(int fd, const void *uaddr, long addrlen, long ret)
{
	struct sock *sk = unix_connecting(fd);
	if (!sk)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	bpf_map_delete_elem(&connects, &id);
	if (ret != -EAGAIN || !uaddr || addrlen <= 2)
		return 0;
	struct connect_refusal_key k = {.netns = sk_netns(sk), .tgid = id >> 32, .type = sk->sk_type};
	__u32 len = addrlen - 2; // sun_path's bytes: the address less sun_family
	if (len > sizeof(k.path))
		len = sizeof(k.path);
	if (bpf_probe_read_user(k.path, len, uaddr + 2))
		return 0;
	if (k.path[0] == 0 && !traced_netns(k.netns))
		return 0;
	k.len = len;
	__u64 one = 1;
	__u64 *n = bpf_map_lookup_elem(&connect_refusals, &k);
	if (!n && bpf_map_update_elem(&connect_refusals, &k, &one, BPF_NOEXIST) == 0)
		return 0;
	if (!n)
		n = bpf_map_lookup_elem(&connect_refusals, &k); // another CPU added it first
	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

// accept()/accept4() returned, seen at the raw sys_exit tracepoint: it runs
// at every system call's exit, so this is the fallback for when the
// per-syscall tracepoints below cannot be attached (no tracefs for their IDs).
SEC("tp_btf/sys_exit")
int BPF_PROG(bl_sys_exit, struct pt_regs *regs, long ret)
{
	long nr = SYSCALL_NR(regs);
	if (nr == NR_CONNECT) {
		if (ret >= 0 || ret == -EINPROGRESS)
			return 0;
		return connect_done((int)SYSCALL_ARG0(regs), (const void *)SYSCALL_ARG1(regs), (long)SYSCALL_ARG2(regs), ret);
	}
	if (nr != NR_ACCEPT && nr != NR_ACCEPT4)
		return 0;
	return accept_done((int)SYSCALL_ARG0(regs), ret);
}

// syscall_exit_ctx is a syscalls:sys_exit_* event's record (its format file):
// the common header, __syscall_nr, ret.
struct syscall_exit_ctx {
	__u64 common;
	__s32 nr;
	long ret;
};

// accept()/accept4() returned, seen at syscalls:sys_exit_accept4 and
// sys_exit_accept, which run for those system calls only. The listening
// descriptor is the first argument, still in the task's saved registers.
SEC("tracepoint/syscalls/sys_exit_accept4")
int bl_accept_exit(struct syscall_exit_ctx *ctx)
{
	struct pt_regs *regs = CAST((void *)bpf_task_pt_regs(bpf_get_current_task_btf()), pt_regs);
	return accept_done((int)SYSCALL_ARG0(regs), ctx->ret);
}

// syscall_enter_connect_ctx is syscalls:sys_enter_connect's record: the
// common header, __syscall_nr, fd, uservaddr, addrlen.
struct syscall_enter_connect_ctx {
	__u64 common;
	__s32 nr;
	__u64 fd;
	__u64 uservaddr;
	__u64 addrlen;
};

// connect() began: on a Unix stream or seqpacket socket, its start is kept
// for its enqueue (connect_blocked).
SEC("tracepoint/syscalls/sys_enter_connect")
int bl_connect_enter(struct syscall_enter_connect_ctx *ctx)
{
	if (!unix_connecting((int)ctx->fd))
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct connect_start v = {.ns = bpf_ktime_get_ns(), .nvcsw = task->nvcsw};
	__u64 id = bpf_get_current_pid_tgid();
	bpf_map_update_elem(&connects, &id, &v, BPF_ANY);
	return 0;
}

// connect() returned. Success (its enqueue took its start) and a TCP
// connect in progress return at once; the arguments are still in the
// task's saved registers, the address in its memory.
SEC("tracepoint/syscalls/sys_exit_connect")
int bl_connect_exit(struct syscall_exit_ctx *ctx)
{
	long ret = ctx->ret;
	if (ret >= 0 || ret == -EINPROGRESS)
		return 0;
	struct pt_regs *regs = CAST((void *)bpf_task_pt_regs(bpf_get_current_task_btf()), pt_regs);
	return connect_done((int)SYSCALL_ARG0(regs), (const void *)SYSCALL_ARG1(regs), (long)SYSCALL_ARG2(regs), ret);
}

// io_uring's accepts (IORING_OP_ACCEPT) return through no system call:
// they are seen where io_uring posts their completions. A request's own
// completion (io_fill_cqe_req) names the request; a multishot accept's
// further completions (io_req_post_cqe -> io_fill_cqe_aux) do not, only the
// ring and the request's user_data, so the listener is recorded by those
// when the accept is submitted.
struct uring_key {
	__u64 ctx;
	__u64 user_data;
};

struct uring_listener {
	__u64 sk;
	__u64 cookie;
};

#define MAX_URING_ACCEPTS 4096

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_URING_ACCEPTS);
	__type(key, struct uring_key);
	__type(value, struct uring_listener);
} uring_accepts SEC(".maps");

// IOSQE_FIXED_FILE (uapi bit 0) is mirrored as bit 0 of the request's flags
// (REQ_F_FIXED_FILE_BIT = IOSQE_FIXED_FILE_BIT): fd is then an index into
// the ring's registered files, not a descriptor.
#define REQ_FIXED_FILE 1

static __always_inline bool uring_accept(const struct io_kiocb *req)
{
	return req->opcode == bpf_core_enum_value(enum io_uring_op, IORING_OP_ACCEPT);
}

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(bl_uring_submit, struct io_kiocb *req)
{
	if (!uring_accept(req) || (req->flags & REQ_FIXED_FILE))
		return 0;
	struct sock *lsk = fd_sock(req->cqe.fd);
	if (!lsk || lsk->__sk_common.skc_state != TCP_LISTEN)
		return 0;
	struct uring_key k = {.ctx = (__u64)req->ctx, .user_data = req->cqe.user_data};
	// The cookie as the listener holds it (0 if none was ever asked for).
	struct uring_listener v = {.sk = (__u64)lsk, .cookie = lsk->__sk_common.skc_cookie.counter};
	bpf_map_update_elem(&uring_accepts, &k, &v, BPF_ANY);
	return 0;
}

SEC("tp_btf/io_uring_complete")
int BPF_PROG(bl_uring_complete, struct io_ring_ctx *ring, void *req, struct io_uring_cqe *cqe)
{
	struct sock *lsk;
	if (req) {
		struct io_kiocb *r = CAST(req, io_kiocb);
		if (!uring_accept(r))
			return 0;
		lsk = file_sock(r->file);
	} else {
		struct uring_key k = {.ctx = (__u64)ring, .user_data = cqe->user_data};
		struct uring_listener *v = bpf_map_lookup_elem(&uring_accepts, &k);
		if (!v)
			return 0;
		lsk = CAST((void *)v->sk, sock);
		// The listener may have closed since (then its memory is not a
		// listener with this cookie any more).
		if (lsk->__sk_common.skc_state != TCP_LISTEN || (v->cookie && lsk->__sk_common.skc_cookie.counter != v->cookie))
			return 0;
	}
	long res = cqe->res;
	if (res == -EAGAIN || res == -ECANCELED)
		return 0; // not an accept that failed: nothing queued, or the request cancelled
	return accepted(lsk, res, 0);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
