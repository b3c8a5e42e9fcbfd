package watch

import (
	"fmt"
	"math"

	"github.com/backlogctl/backlogctl/netns"
	"github.com/backlogctl/backlogctl/trace"
)

// TracedInterval is a listener's eBPF evidence in a report (watch --trace).
type TracedInterval struct {
	// IntervalHighWater is the exact longest accept queue in this interval
	// (since the previous report), IntervalHighWaterFill that over
	// backlog+1: 1 means the queue was full at some point of the interval.
	IntervalHighWater     uint32  `json:"interval_high_water"`
	IntervalHighWaterFill float64 `json:"interval_high_water_fill"`
	// AcceptQueueHighWater is the exact longest accept queue since watch
	// started (the programs keep a running maximum); HighWaterRose says it
	// was reached in this interval; HighWaterFill is it over backlog+1.
	AcceptQueueHighWater uint32  `json:"accept_queue_high_water"`
	HighWaterRose        bool    `json:"high_water_rose"`
	HighWaterFill        float64 `json:"high_water_fill"`
	// Enqueued, Accepted and OverflowsAckTime are this interval's, exact.
	Enqueued         uint64 `json:"enqueued"`
	Accepted         uint64 `json:"accepted"`
	OverflowsAckTime uint64 `json:"overflows_ack_time"`
	// AcceptWait is this interval's waits in the accept queue.
	AcceptWait IntervalWait `json:"accept_wait_seconds"`
}

// IntervalWait is one interval's accept-queue waits: the count, and
// percentiles as the upper bound of the log2 bucket they fall in; Max is the
// exact longest wait since watch started.
type IntervalWait struct {
	Count         uint64  `json:"count"`
	P50           float64 `json:"p50"`
	P90           float64 `json:"p90"`
	P99           float64 `json:"p99"`
	MaxSinceStart float64 `json:"max_since_start"`
}

// tracing is watch --trace's collector and what the last report saw.
type tracing struct {
	src trace.Source
	// here is the inode of the namespace watch runs in (targets with ns nil).
	here uint64
	prev map[trace.Key]tracedPrev
}

type tracedPrev struct {
	hw                  uint32
	enqueued, accepted  uint64
	ackOverflows, count uint64
	buckets             []uint64
}

// startTracing attaches the programs, or says in one line why it cannot.
func startTracing(start func() (trace.Source, error)) (*tracing, string) {
	if start == nil {
		start = trace.Open
	}
	src, err := start()
	if err != nil {
		return nil, fmt.Sprintf("eBPF tracing unavailable (%v): showing sampled peaks", err)
	}
	cur, _ := netns.Current()
	return &tracing{src: src, here: cur.Inode, prev: map[trace.Key]tracedPrev{}}, ""
}

// attach gives every listener in rs its evidence over the interval.
func (t *tracing) attach(rs []*Report) error {
	ev, err := t.src.Snapshot()
	if err != nil {
		return fmt.Errorf("trace: %w", err)
	}
	seen := map[trace.Key]tracedPrev{}
	for _, r := range rs {
		r.Traced = true
		inode := t.here
		if r.Netns != nil {
			inode = r.Netns.Inode
		}
		for i := range r.Listeners {
			l := &r.Listeners[i]
			k := trace.Key{Netns: inode, Cookie: l.Cookie}
			le := ev.Listeners[k]
			// Without stats the programs saw no enqueue or accept since
			// watch started: the queue held the sampled length throughout.
			ti := &TracedInterval{AcceptQueueHighWater: l.AcceptQueue, IntervalHighWater: l.AcceptQueue}
			now := tracedPrev{hw: l.AcceptQueue}
			if le != nil && le.Tracked {
				ti.IntervalHighWater = le.IntervalHighWater
			}
			if le != nil {
				now = tracedPrev{hw: max(le.AcceptQueueHighWater, l.AcceptQueue), enqueued: le.Enqueued, accepted: le.Accepted,
					ackOverflows: le.Drops[trace.ListenOverflowReason], count: le.AcceptWait.Count, buckets: trace.LogBuckets(le.AcceptWait)}
				ti.AcceptWait.MaxSinceStart = le.AcceptWait.Max
			}
			before, known := t.prev[k]
			ti.AcceptQueueHighWater = now.hw
			ti.HighWaterRose = !known && now.hw > 0 || now.hw > before.hw
			ti.HighWaterFill = float64(now.hw) / (float64(l.AcceptQueueMax) + 1)
			ti.IntervalHighWaterFill = float64(ti.IntervalHighWater) / (float64(l.AcceptQueueMax) + 1)
			ti.Enqueued, ti.Accepted = now.enqueued-before.enqueued, now.accepted-before.accepted
			ti.OverflowsAckTime = now.ackOverflows - before.ackOverflows
			ti.AcceptWait.Count = now.count - before.count
			delta := make([]uint64, len(now.buckets))
			for b, n := range now.buckets {
				delta[b] = n
				if b < len(before.buckets) {
					delta[b] -= before.buckets[b]
				}
			}
			ti.AcceptWait.P50 = logQuantile(delta, 0.50, ti.AcceptWait.MaxSinceStart)
			ti.AcceptWait.P90 = logQuantile(delta, 0.90, ti.AcceptWait.MaxSinceStart)
			ti.AcceptWait.P99 = logQuantile(delta, 0.99, ti.AcceptWait.MaxSinceStart)
			l.Traced = ti
			seen[k] = now
		}
	}
	t.prev = seen
	return nil
}

// logQuantile is the upper bound in seconds of the log2-nanosecond bucket
// holding the q-th wait, capped at maxWait (exact); 0 without waits.
func logQuantile(buckets []uint64, q, maxWait float64) float64 {
	var total uint64
	for _, n := range buckets {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, n := range buckets {
		seen += n
		if seen >= rank {
			if i == len(buckets)-1 {
				return maxWait
			}
			return math.Min(math.Ldexp(1, i+1)/1e9, maxWait)
		}
	}
	return maxWait
}

func (t *tracing) close() {
	if t != nil {
		t.src.Close()
	}
}
