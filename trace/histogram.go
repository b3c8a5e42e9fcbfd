package trace

import "math"

// Histogram is a distribution of waits in seconds, from log2 buckets of
// nanoseconds. Percentiles are the upper bound of the bucket they fall in
// (at most twice the true value); Max is exact.
type Histogram struct {
	Count uint64  `json:"count"`
	Sum   float64 `json:"sum"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
	// Unmatched of Count were timed from the enqueue at the connection's
	// place in the queue, because the connection itself was not found
	// there or beside it (an enqueue on another CPU moved the queue's
	// tail first); such a wait can be off by the time between two enqueues.
	Unmatched uint64 `json:"unmatched"`
	// Bound, in queue mode (no accept hook), is how much longer than the
	// real wait each one may be: a wait is timed to the enqueue that found
	// its connection taken, not to the accept() (0 in full mode).
	// Unbounded are connections found taken too many at once to be timed.
	Bound     float64 `json:"bound,omitempty"`
	Unbounded uint64  `json:"unbounded,omitempty"`
	// Buckets are the non-empty buckets: Count waits of at most LE seconds
	// (and more than the previous bucket's LE).
	Buckets []Bucket `json:"buckets"`
}

// Bucket is one log2 bucket. LE is nil (JSON null) for the last, unbounded one.
type Bucket struct {
	LE    *float64 `json:"le"`
	Count uint64   `json:"count"`
}

// bucketLE is the upper bound of bucket i in seconds, 2^(i+1) ns; nil for the last.
func bucketLE(i int) *float64 {
	if i == waitBuckets-1 {
		return nil
	}
	le := math.Ldexp(1, i+1) / 1e9
	return &le
}

func newHistogram(buckets []uint64, count, sumNs, maxNs uint64) Histogram {
	h := Histogram{Count: count, Sum: float64(sumNs) / 1e9, Max: float64(maxNs) / 1e9, Buckets: []Bucket{}}
	var total uint64
	for i, n := range buckets {
		if n > 0 {
			h.Buckets = append(h.Buckets, Bucket{LE: bucketLE(i), Count: n})
			total += n
		}
	}
	h.P50 = h.quantile(total, 0.50)
	h.P90 = h.quantile(total, 0.90)
	h.P99 = h.quantile(total, 0.99)
	return h
}

// quantile is the upper bound of the bucket holding the q-th wait, capped
// at Max (which is exact).
func (h *Histogram) quantile(total uint64, q float64) float64 {
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for _, b := range h.Buckets {
		seen += b.Count
		if seen >= rank {
			if b.LE == nil {
				return h.Max
			}
			return math.Min(*b.LE, h.Max)
		}
	}
	return h.Max
}

// LogBuckets are h's counts by log2 bucket index (bucket i: waits in
// [2^i, 2^(i+1)) ns, the last unbounded), for renderers that need the
// buckets themselves, such as the exporter's histograms.
func LogBuckets(h Histogram) []uint64 {
	out := make([]uint64, waitBuckets)
	for _, b := range h.Buckets {
		i := waitBuckets - 1
		if b.LE != nil {
			i = int(math.Round(math.Log2(*b.LE*1e9))) - 1
		}
		if i >= 0 && i < waitBuckets {
			out[i] += b.Count
		}
	}
	return out
}
