package model

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"time"
)

// Traced is one listener's evidence from eBPF tracing (backlogctl trace's
// programs), joined to the listener by its socket cookie: exact where a
// sample can only infer. Counts are since tracing began (Since), except
// IntervalHighWater; nothing here is a quantile: waits are bucket counts.
type Traced struct {
	// At is the read of the programs' maps this evidence is from.
	At time.Time
	// HighWater is the longest the accept queue was since tracing began,
	// exact (or the sampled queue, when longer: a queue that held it
	// throughout saw no enqueue). HighWaterAt is the first read that saw it
	// at that length, set by a window's fold; zero when unknown.
	HighWater   uint32
	HighWaterAt time.Time
	// IntervalHighWater is the longest the accept queue was since the
	// previous read (each read closes an interval in the programs).
	IntervalHighWater uint32
	// SynQueueHighWater is the longest SYN queue seen at the listener's
	// events, or sampled.
	SynQueueHighWater uint32
	// Enqueued and Accepted are connections that entered the accept queue
	// and that accept() took from it.
	Enqueued, Accepted uint64
	// Overflows are connections dropped because the accept queue was full,
	// by site.
	Overflows Overflows
	// Drops are drops at the listener by kernel drop reason
	// (skb_drop_reason without its prefix; TCP_DEFER_ACCEPT for bare ACKs
	// a TCP_DEFER_ACCEPT listener dropped).
	Drops map[string]uint64
	// AcceptWait is how long accepted connections waited in the queue.
	AcceptWait WaitHistogram
	// AcceptErrors are failed accept() calls on the listener, by process
	// and errno, most first.
	AcceptErrors []AcceptErrors
	// Held is how long, at At, the queue had been holding connections
	// with no accept() taking one (meaningful while the sampled queue is
	// not empty).
	Held time.Duration
	// OldestQueued is how long the oldest connection still in the accept
	// queue at At (as sampled) had waited there; 0 with the queue empty.
	// It is part of every wait, though no accept() has ended it: a stall
	// in progress shows here before it shows in AcceptWait. Exact from its
	// enqueue time when OldestQueuedExact (the programs' ring holds when
	// each queued connection entered); otherwise a lower bound: the
	// connection was queued before tracing began (it waited at least since
	// then), or its enqueue time is no longer held (it waited at least as
	// long as the queue has been non-empty with no accept, Held).
	OldestQueued      time.Duration
	OldestQueuedExact bool
	// OldestQueuedMax is the longest OldestQueued at any read of a window
	// (its fold), or this read's own; OldestQueuedMaxExact is that read's
	// OldestQueuedExact.
	OldestQueuedMax      time.Duration
	OldestQueuedMaxExact bool
	// Owners are the listener's owners at At, with their state: those
	// found in /proc or, without, the process whose accept() last took a
	// connection (the owner as the programs saw it, known without a walk).
	Owners []TracedOwner
	// Stall is the longest the queue was held with no accept() at any read
	// of a window (its fold), with the queue's length and the owners then.
	Stall Stall
	// Untraced: the programs' listener table was full when this listener
	// had events, so its figures are not its whole story: they count only
	// the events after it got a slot (all zero if it has none).
	// UntracedEvents are the events not counted; 0 with Untraced when more
	// listeners found the table full than could be named, and this one,
	// with no figures, may be among them.
	Untraced       bool
	UntracedEvents uint64
	// Unix listeners' evidence in full mode (UnixTraced): connect() calls
	// refused, and blocking ones that slept, because the queue was full.
	UnixTraced
}

// Overflows are connections dropped because an accept queue was full, by
// where the kernel found it full. Their sum is the namespace's
// TcpExtListenOverflows rise over the same time, shared among its
// listeners.
type Overflows struct {
	// SynTime: the SYN arrived with the queue full (tcp_conn_request). The
	// kernel consumes that SYN with no drop reason and no tracepoint, so
	// this is derived: the namespace's ListenOverflows rise less the
	// ACK-time overflows counted, given to the listener whose queue was
	// seen full (exact when one was).
	SynTime uint64 `json:"syn_time"`
	// AckTime: the final ACK of a request socket arrived with the queue
	// full (tcp_check_req), counted exactly by kfree_skb's
	// TCP_LISTEN_OVERFLOW reason.
	AckTime uint64 `json:"ack_time"`
	// CookieAckTime: an ACK carrying a SYN cookie arrived with the queue
	// full (cookie_v4_check/cookie_v6_check -> tcp_get_cookie_sock ->
	// syn_recv_sock), counted exactly at kfree_skb, where Linux 6.9 and
	// later give it the reason NO_SOCKET (no child socket was made).
	CookieAckTime uint64 `json:"cookie_ack_time"`
}

// Total is every overflow, all sites.
func (o Overflows) Total() uint64 { return o.SynTime + o.AckTime + o.CookieAckTime }

// AcceptErrors counts one process's failed accept() calls with one errno.
type AcceptErrors struct {
	PID   int    `json:"pid"`
	Comm  string `json:"comm,omitempty"`
	Errno string `json:"errno"`
	Count uint64 `json:"count"`
}

// SortAcceptErrors orders errors most first, then by pid and errno.
func SortAcceptErrors(es []AcceptErrors) {
	slices.SortFunc(es, func(a, b AcceptErrors) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.PID, b.PID), cmp.Compare(a.Errno, b.Errno))
	})
}

// TracedOwner is a process holding (or accepting from) a listener, with
// its scheduler state spelled out ("T (stopped)"); in a Stall, every state
// it was seen in while the stall lasted, in order ("T (stopped), then S
// (sleeping)").
type TracedOwner struct {
	PID   int    `json:"pid"`
	Comm  string `json:"comm"`
	State string `json:"state,omitempty"`
}

// Stall is how long a queue held connections with no accept().
type Stall struct {
	Held   time.Duration
	Queue  uint32
	Owners []TracedOwner
}

// stateNames spell out /proc/PID/stat's state letters (fs/proc/array.c).
var stateNames = map[string]string{
	"R": "running", "S": "sleeping", "D": "disk sleep", "T": "stopped",
	"t": "tracing stop", "X": "dead", "Z": "zombie", "P": "parked", "I": "idle",
}

// StateName is a /proc/PID/stat state letter with its meaning, "T
// (stopped)"; "" for "".
func StateName(letter string) string {
	if letter == "" {
		return ""
	}
	return letter + " (" + stateNames[letter] + ")"
}

// WaitBuckets is how many log2 buckets an accept-wait histogram has:
// bucket i counts waits in [2^i, 2^(i+1)) ns, the last one unbounded.
const WaitBuckets = 40

// WaitHistogram is a distribution of accept-queue waits as the programs
// count it: log2 buckets of nanoseconds, with the exact count, sum and
// maximum. Quantiles are computed from it where they are shown (Quantile).
type WaitHistogram struct {
	Buckets [WaitBuckets]uint64
	Count   uint64
	SumNs   uint64
	MaxNs   uint64
	// Unmatched of Count were timed from the enqueue at the connection's
	// place in the queue, because the connection itself was not found there
	// (a concurrent enqueue moved the tail first); such a wait can be off
	// by the time between two enqueues.
	Unmatched uint64
	// BoundNs, in queue mode (no accept hook), is how much longer than the
	// real wait each one may be: a wait is timed to the enqueue that found
	// its connection taken, not to the accept() (0 in full mode).
	// Unbounded were found taken too many at once to be timed.
	BoundNs   uint64
	Unbounded uint64
}

// Bound is BoundNs in seconds.
func (h *WaitHistogram) Bound() float64 { return float64(h.BoundNs) / 1e9 }

// WaitBucketLE is bucket i's upper bound in seconds, 2^(i+1) ns; +Inf for
// the last, unbounded one.
func WaitBucketLE(i int) float64 {
	if i >= WaitBuckets-1 {
		return math.Inf(1)
	}
	return math.Ldexp(1, i+1) / 1e9
}

// OldestQueuedText is OldestQueuedMax for a sentence: "5.0s", or "at
// least 5.0s" when it is a lower bound.
func (t *Traced) OldestQueuedText() string {
	s := strconv.FormatFloat(t.OldestQueuedMax.Seconds(), 'f', 1, 64) + "s"
	if !t.OldestQueuedMaxExact {
		s = "at least " + s
	}
	return s
}

// LongestWait is the longest wait the evidence knows in seconds: of a
// connection accept() returned (AcceptWait.Max) or of one still queued at
// a read (OldestQueuedMax), whichever is longer.
func (t *Traced) LongestWait() float64 {
	return max(t.AcceptWait.Max(), t.OldestQueuedMax.Seconds())
}

// Sum and Max are in seconds.
func (h *WaitHistogram) Sum() float64 { return float64(h.SumNs) / 1e9 }
func (h *WaitHistogram) Max() float64 { return float64(h.MaxNs) / 1e9 }

// Mean is the mean wait, Little's law's W; 0 without waits.
func (h *WaitHistogram) Mean() time.Duration {
	if h.Count == 0 {
		return 0
	}
	return time.Duration(float64(h.SumNs) / float64(h.Count))
}

// Quantile is the upper bound in seconds of the bucket holding the q-th
// wait (at most twice the true value), capped at the exact maximum; 0
// without waits.
func (h *WaitHistogram) Quantile(q float64) float64 { return h.QuantileCapped(q, h.Max()) }

// QuantileCapped is Quantile capped at maxSeconds instead of the
// histogram's own maximum (an interval's histogram knows only the maximum
// since tracing began).
func (h *WaitHistogram) QuantileCapped(q, maxSeconds float64) float64 {
	var total uint64
	for _, n := range h.Buckets {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, n := range h.Buckets {
		seen += n
		if seen >= rank {
			return math.Min(WaitBucketLE(i), maxSeconds)
		}
	}
	return maxSeconds
}

// Add adds o's waits to h: an SO_REUSEPORT group's, or a row of listeners.
func (h *WaitHistogram) Add(o *WaitHistogram) {
	for i, n := range o.Buckets {
		h.Buckets[i] += n
	}
	h.Count += o.Count
	h.SumNs += o.SumNs
	h.MaxNs = max(h.MaxNs, o.MaxNs)
	h.Unmatched += o.Unmatched
	h.BoundNs = max(h.BoundNs, o.BoundNs)
	h.Unbounded += o.Unbounded
}

// Fill is the high water over backlog+1, what a full queue holds: 1 means
// the queue was full.
func (t *Traced) Fill(backlog uint32) float64 { return Fill(t.HighWater, backlog) }

// IntervalFill is IntervalHighWater over backlog+1.
func (t *Traced) IntervalFill(backlog uint32) float64 { return Fill(t.IntervalHighWater, backlog) }

// Stalled reports whether, at this read, a queue of queue connections had
// been held for at least stall with no accept(), and for how long.
func (t *Traced) Stalled(queue uint32, stall time.Duration) (bool, time.Duration) {
	if queue > 0 && t.Held >= stall {
		return true, t.Held
	}
	return false, 0
}

// ArrivalRate is connections per second that reached the accept queue or
// were dropped because it was full, over seconds.
func (t *Traced) ArrivalRate(seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return float64(t.Enqueued+t.Overflows.Total()) / seconds
}

// Since is what happened between prev and t, two reads of one listener's
// evidence: the window fold's delta, model.Delta for each count. The
// programs count a listener in a slot that can be reset (given to another
// listener and back, or reset with the map); when any count went down, the
// slot was reset between the reads and all of t happened since, as Delta
// has it for a counter. HighWater, IntervalHighWater, the maximum wait and
// Held are t's own.
func (t *Traced) Since(prev *Traced) Traced {
	out := *t
	if prev == nil || t.reset(prev) {
		return out
	}
	out.Enqueued -= prev.Enqueued
	out.Accepted -= prev.Accepted
	out.Overflows = Overflows{SynTime: Delta(prev.Overflows.SynTime, t.Overflows.SynTime), AckTime: t.Overflows.AckTime - prev.Overflows.AckTime,
		CookieAckTime: t.Overflows.CookieAckTime - prev.Overflows.CookieAckTime}
	out.Drops = make(map[string]uint64, len(t.Drops))
	for reason, n := range t.Drops {
		out.Drops[reason] = n - prev.Drops[reason]
	}
	for i := range out.AcceptWait.Buckets {
		out.AcceptWait.Buckets[i] -= prev.AcceptWait.Buckets[i]
	}
	out.AcceptWait.Count -= prev.AcceptWait.Count
	out.AcceptWait.SumNs -= prev.AcceptWait.SumNs
	out.AcceptWait.Unmatched -= prev.AcceptWait.Unmatched
	out.AcceptWait.Unbounded -= prev.AcceptWait.Unbounded
	out.UnixTraced = t.UnixTraced.since(&prev.UnixTraced)
	out.AcceptErrors = nil
	for _, e := range t.AcceptErrors {
		e.Count -= prev.acceptErrors(e.PID, e.Errno)
		if e.Count > 0 {
			out.AcceptErrors = append(out.AcceptErrors, e)
		}
	}
	return out
}

// reset reports whether a count the programs only raise went down between
// prev and t.
func (t *Traced) reset(prev *Traced) bool {
	if t.Enqueued < prev.Enqueued || t.Accepted < prev.Accepted || t.Overflows.AckTime < prev.Overflows.AckTime ||
		t.Overflows.CookieAckTime < prev.Overflows.CookieAckTime || t.AcceptWait.Unbounded < prev.AcceptWait.Unbounded ||
		t.AcceptWait.Count < prev.AcceptWait.Count || t.AcceptWait.SumNs < prev.AcceptWait.SumNs ||
		t.AcceptWait.Unmatched < prev.AcceptWait.Unmatched {
		return true
	}
	for i, n := range prev.AcceptWait.Buckets {
		if t.AcceptWait.Buckets[i] < n {
			return true
		}
	}
	for reason, n := range prev.Drops {
		if t.Drops[reason] < n {
			return true
		}
	}
	for _, e := range prev.AcceptErrors {
		if t.acceptErrors(e.PID, e.Errno) < e.Count {
			return true
		}
	}
	return false
}

func (t *Traced) acceptErrors(pid int, errno string) uint64 {
	for _, e := range t.AcceptErrors {
		if e.PID == pid && e.Errno == errno {
			return e.Count
		}
	}
	return 0
}

// TraceInfo is what tracing covered at one read: when the programs were
// attached and read, and what they cost.
type TraceInfo struct {
	// Since is when the programs were attached; Time the read.
	Since time.Time
	Time  time.Time
	// Mode is what the programs trace: "full" or "queue" (--trace-mode).
	Mode string
	// Tracer is the attached programs and their memory.
	Tracer Tracer
	// ConnectBlockedSince is when tracing began to time blocking connects
	// to Unix listeners (full mode: at the first read that found one full);
	// zero when it has not.
	ConnectBlockedSince time.Time
}

// Seconds is how long the programs had been attached at the read.
func (i *TraceInfo) Seconds() float64 { return i.Time.Sub(i.Since).Seconds() }

// Tracer is what tracing itself costs and which programs it runs.
type Tracer struct {
	Programs []TracerProgram `json:"programs"`
	// MapMemoryBytes is the kernel memory of the maps and programs (memlock).
	MapMemoryBytes uint64 `json:"map_memory_bytes"`
	// RSSBytes is backlogctl's own resident memory.
	RSSBytes uint64 `json:"rss_bytes"`
	// ListenerSlots is the size of the programs' listener table,
	// ListenersTraced the slots taken (listeners of every namespace traced,
	// open or since closed).
	ListenerSlots   int `json:"listener_slots"`
	ListenersTraced int `json:"listeners_traced"`
	// UntracedEvents are the events of listeners that found the table full
	// (each listener's own count is its Traced.UntracedEvents).
	UntracedEvents uint64 `json:"untraced_events"`
}

// TracerProgram is one attached program and its tracepoint.
type TracerProgram struct {
	// Program is the program's name, as bpftool prog lists it.
	Program string `json:"program"`
	// Tracepoint is where it attaches, e.g. "tp_btf/sk_data_ready".
	Tracepoint string `json:"tracepoint"`
	// ID is the kernel's program ID while attached.
	ID uint32 `json:"id,omitempty"`
}

// TraceProbe is what the kernel allows tracing to do, found by trying it
// (trace --check).
type TraceProbe struct {
	// BTF: /sys/kernel/btf/vmlinux is there.
	BTF bool `json:"btf"`
	// Loaded: the verifier accepted every program (needs CAP_BPF and CAP_PERFMON).
	Loaded bool `json:"loaded"`
	// Hooks say, for each program, whether it attached.
	Hooks []TraceHookProbe `json:"hooks"`
	// AcceptFallback is why accept() is seen at the raw sys_exit tracepoint
	// (every system call) instead of its own syscall tracepoints; empty when
	// it is not.
	AcceptFallback string `json:"accept_fallback,omitempty"`
	// ListenOverflowReason is SKB_DROP_REASON_TCP_LISTEN_OVERFLOW's value
	// in this kernel, -1 when it has none (ACK-time overflows not seen).
	ListenOverflowReason int64 `json:"listen_overflow_reason"`
	// Error is why tracing cannot run here; empty when it can.
	Error string `json:"error,omitempty"`
}

// TraceHookProbe is one program's attach result.
type TraceHookProbe struct {
	TracerProgram
	Attached bool   `json:"attached"`
	Error    string `json:"error,omitempty"`
}

// OK reports whether tracing can run: every program attached.
func (p *TraceProbe) OK() bool {
	if !p.BTF || !p.Loaded {
		return false
	}
	for _, h := range p.Hooks {
		if !h.Attached {
			return false
		}
	}
	return true
}
