package model

import (
	"maps"
	"time"
)

// The JSON forms in which commands print traced evidence. Each is a
// contract scripts rely on (field names are stable, fields may be added),
// and each is made here from Traced alone, so the evidence has one shape
// and the quantiles are computed in one place, from the buckets, as they
// are printed.

// TraceReport is one interval of `backlogctl trace -o json`: every
// listener's evidence since tracing began, joined to the snapshot taken at
// Time.
type TraceReport struct {
	// Mode is what the programs traced: "full" or "queue" (--trace-mode).
	Mode  string    `json:"mode"`
	Time  time.Time `json:"time"`
	Since time.Time `json:"since"`
	// StallSeconds is the --stall threshold.
	StallSeconds float64               `json:"stall_seconds"`
	Listeners    []TraceReportListener `json:"listeners"`
	// UnattributedAcceptErrors are accept() errors whose listening socket
	// could not be resolved, by process (e.g. EBADF on a closed descriptor).
	UnattributedAcceptErrors []AcceptErrors `json:"unattributed_accept_errors"`
	// Exact and Derived name the listener fields in each class; Unavailable
	// those the mode does not see.
	Exact       []string `json:"exact"`
	Derived     []string `json:"derived"`
	Unavailable []string `json:"unavailable"`
	Tracer      Tracer   `json:"tracer"`
	// ConnectBlockedSince is when blocking connects to Unix listeners
	// began to be timed (connect_blocked_seconds): connect()'s entry is
	// traced from the first report that found a Unix listener full, as it
	// costs every system call. Absent until then, and in queue mode.
	ConnectBlockedSince *time.Time `json:"connect_blocked_since,omitempty"`
	Notes               []string   `json:"notes,omitempty"`
}

// ExactFields are counted by the programs at the event itself.
var ExactFields = []string{"accept_queue_high_water", "interval_high_water", "enqueued", "accepted", "overflows.ack_time",
	"overflows.cookie_ack_time", "drops", "accept_wait_seconds.count", "accept_wait_seconds.sum", "accept_wait_seconds.max",
	"accept_wait_seconds.buckets", "accept_wait_seconds.unmatched", "accept_errors", "connect_eagain", "connect_refusals"}

// QueueExactFields are exact in queue mode: accepted is the connections
// enqueued less those still queued (the queue is first in, first out).
var QueueExactFields = []string{"accept_queue_high_water", "enqueued", "accepted",
	"overflows.ack_time", "overflows.cookie_ack_time", "drops"}

// QueueDerivedFields are inferred in queue mode: the waits are upper
// bounds (accept_wait_seconds.bound says by how much at most), stalls are
// measured from the last enqueue that found a connection taken, and an
// interval's high water is its longest queue at an enqueue, or its length at
// the read when it had none (its length at the start was counted in the
// interval before: every peak is just after an enqueue).
var QueueDerivedFields = []string{"interval_high_water", "overflows.syn_time", "syn_queue_high_water", "accept_wait_seconds", "stalled", "oldest_queued_seconds"}

// QueueUnavailableFields are not seen in queue mode (no accept hook).
var QueueUnavailableFields = []string{"accept_errors", "unattributed_accept_errors", "accept_wait_seconds.unmatched",
	"connect_eagain", "connect_refusals", "connect_blocked_seconds"}

// TraceFieldClasses are the exact, derived and unavailable fields of a
// trace mode.
func TraceFieldClasses(mode string) (exact, derived, unavailable []string) {
	if mode == "queue" {
		return QueueExactFields, QueueDerivedFields, QueueUnavailableFields
	}
	return ExactFields, DerivedFields, []string{}
}

// DerivedFields are inferred: syn_time overflows from counters, the SYN
// queue's high water from samples, percentiles from log2 buckets, stalls
// from the last accept and the current queue, the oldest queued wait from
// the sampled queue and the enqueue time the programs kept for its place
// (oldest_queued_exact says when that is exact, and when a lower bound), a
// Unix listener's blocked connects from the connecting task having slept.
var DerivedFields = []string{"overflows.syn_time", "syn_queue_high_water", "accept_wait_seconds.p50",
	"accept_wait_seconds.p90", "accept_wait_seconds.p99", "stalled", "oldest_queued_seconds", "connect_blocked_seconds"}

// TraceReportListener is one listening socket in a TraceReport.
type TraceReportListener struct {
	Netns uint64 `json:"netns"`
	// NetnsName is the namespace's name under /run/netns, when it has one.
	NetnsName string `json:"netns_name,omitempty"`
	Cookie    uint64 `json:"cookie"`
	Family    string `json:"family"`
	Address   string `json:"address"`
	Port      uint16 `json:"port"`
	// Path and SocketType are a Unix listener's (its Address and Port are
	// empty): its path or "@abstract" name, "stream" or "seqpacket".
	Path       string `json:"path,omitempty"`
	SocketType string `json:"socket_type,omitempty"`
	// Backlog is the effective backlog; the queue is full at Backlog+1.
	Backlog uint32 `json:"backlog"`
	// AcceptQueue is the queue's length now (sock_diag).
	AcceptQueue uint32        `json:"accept_queue"`
	Processes   []TracedOwner `json:"processes"`

	AcceptQueueHighWater uint32            `json:"accept_queue_high_water"`
	IntervalHighWater    uint32            `json:"interval_high_water"`
	SynQueueHighWater    uint32            `json:"syn_queue_high_water"`
	Enqueued             uint64            `json:"enqueued"`
	Accepted             uint64            `json:"accepted"`
	Overflows            Overflows         `json:"overflows"`
	Drops                map[string]uint64 `json:"drops"`
	AcceptWait           WaitSummary       `json:"accept_wait_seconds"`
	AcceptErrors         []AcceptErrors    `json:"accept_errors"`
	// Stalled: the queue holds connections and no accept() took one for at
	// least the --stall threshold; StalledSeconds is for how long.
	Stalled        bool    `json:"stalled"`
	StalledSeconds float64 `json:"stalled_seconds"`
	// OldestQueuedSeconds is how long the oldest connection still in the
	// queue had waited at the read (0: none queued); exact from its
	// enqueue time when OldestQueuedExact, else at least that.
	OldestQueuedSeconds float64 `json:"oldest_queued_seconds"`
	OldestQueuedExact   bool    `json:"oldest_queued_exact"`
	// Untraced and UntracedEvents are Traced's: the listener found the
	// programs' listener table full, and its figures miss that many events.
	Untraced       bool   `json:"untraced"`
	UntracedEvents uint64 `json:"untraced_events"`
	// A Unix listener's connect() refusals and blocked connects, in full
	// mode only: connect_eagain, connect_refusals, connect_blocked_seconds.
	*UnixConnects
}

// WaitSummary is a WaitHistogram in seconds, with its percentiles: each
// the upper bound of the log2 bucket it falls in (at most twice the true
// value), capped at Max, which is exact.
type WaitSummary struct {
	Count     uint64  `json:"count"`
	Sum       float64 `json:"sum"`
	P50       float64 `json:"p50"`
	P90       float64 `json:"p90"`
	P99       float64 `json:"p99"`
	Max       float64 `json:"max"`
	Unmatched uint64  `json:"unmatched"`
	// Bound and Unbounded are queue mode's: each wait is an upper bound, at
	// most Bound seconds over the real one; Unbounded were found taken too
	// many at once to be timed.
	Bound     float64      `json:"bound,omitempty"`
	Unbounded uint64       `json:"unbounded,omitempty"`
	Buckets   []WaitBucket `json:"buckets"`
}

// WaitBucket is one non-empty log2 bucket: Count waits of at most LE
// seconds (and more than the previous bucket's). LE is null for the last,
// unbounded one.
type WaitBucket struct {
	LE    *float64 `json:"le"`
	Count uint64   `json:"count"`
}

// Summary is h in seconds, with its percentiles and non-empty buckets.
func (h *WaitHistogram) Summary() WaitSummary {
	s := WaitSummary{Count: h.Count, Sum: h.Sum(), Max: h.Max(), Unmatched: h.Unmatched, Buckets: []WaitBucket{},
		Bound: h.Bound(), Unbounded: h.Unbounded,
		P50: h.Quantile(0.50), P90: h.Quantile(0.90), P99: h.Quantile(0.99)}
	for i, n := range h.Buckets {
		if n == 0 {
			continue
		}
		b := WaitBucket{Count: n}
		if i < WaitBuckets-1 {
			le := WaitBucketLE(i)
			b.LE = &le
		}
		s.Buckets = append(s.Buckets, b)
	}
	return s
}

// NewTraceReport is m's traced evidence as trace prints it; stall is the
// threshold of Stalled. Listeners without evidence (m not traced) are left out.
func NewTraceReport(m *MultiSnapshot, stall time.Duration) *TraceReport {
	r := &TraceReport{StallSeconds: stall.Seconds(), Listeners: []TraceReportListener{},
		UnattributedAcceptErrors: []AcceptErrors{}, Notes: m.Notes}
	if m.Trace != nil {
		r.Mode, r.Time, r.Since, r.Tracer = m.Trace.Mode, m.Trace.Time, m.Trace.Since, m.Trace.Tracer
		if at := m.Trace.ConnectBlockedSince; !at.IsZero() {
			r.ConnectBlockedSince = &at
		}
	}
	if r.Mode == "" {
		r.Mode = "full"
	}
	r.Exact, r.Derived, r.Unavailable = TraceFieldClasses(r.Mode)
	for _, ns := range m.Namespaces {
		for i := range ns.Listeners {
			l := &ns.Listeners[i]
			if l.Traced != nil {
				rl := traceReportListener(ns.Netns, l, stall)
				if l.IsUnix() && r.Mode == "full" {
					rl.UnixConnects = l.Traced.unixConnects()
				}
				r.Listeners = append(r.Listeners, rl)
			}
		}
		r.UnattributedAcceptErrors = append(r.UnattributedAcceptErrors, ns.UnattributedAcceptErrors...)
	}
	SortAcceptErrors(r.UnattributedAcceptErrors)
	return r
}

func traceReportListener(ns Namespace, l *Listener, stall time.Duration) TraceReportListener {
	t := l.Traced
	out := TraceReportListener{Netns: ns.Inode, NetnsName: ns.Name, Cookie: l.Cookie, Family: l.Family,
		Address: l.Address, Port: l.Port, Path: l.Path, SocketType: l.SocketType, Backlog: l.AcceptQueueMax, AcceptQueue: l.AcceptQueue,
		Processes: append([]TracedOwner{}, t.Owners...), AcceptQueueHighWater: t.HighWater,
		IntervalHighWater: t.IntervalHighWater, SynQueueHighWater: t.SynQueueHighWater,
		Enqueued: t.Enqueued, Accepted: t.Accepted, Overflows: t.Overflows, Drops: map[string]uint64{},
		AcceptWait: t.AcceptWait.Summary(), AcceptErrors: append([]AcceptErrors{}, t.AcceptErrors...)}
	maps.Copy(out.Drops, t.Drops)
	stalled, held := t.Stalled(l.AcceptQueue, stall)
	out.Stalled, out.StalledSeconds = stalled, held.Seconds()
	out.OldestQueuedSeconds, out.OldestQueuedExact = t.OldestQueued.Seconds(), t.OldestQueuedExact
	out.Untraced, out.UntracedEvents = t.Untraced, t.UntracedEvents
	return out
}

// AdviseTrace is advise -o json's "trace": the evidence its findings cite,
// per listener, over the traced window.
type AdviseTrace struct {
	// Since and Until are when the traced window began (the programs
	// attached) and ended (their last read); Seconds is how long that was.
	// Under --all-netns every namespace shares the one window.
	Since     time.Time             `json:"since"`
	Until     time.Time             `json:"until"`
	Seconds   float64               `json:"seconds"`
	Listeners []AdviseTraceListener `json:"listeners"`
	// SizingMeasured names the sizing inputs taken from this evidence
	// ("rate", "accept_latency") rather than given.
	SizingMeasured []string `json:"sizing_measured,omitempty"`
}

// AdviseTraceListener is one listener in AdviseTrace.
type AdviseTraceListener struct {
	Address string `json:"address"`
	Port    uint16 `json:"port"`
	// Path is a Unix listener's; ConnectEAGAIN its connect() calls refused
	// because its queue was full, ConnectBlocked the blocking ones that
	// waited (full mode).
	Path           string `json:"path,omitempty"`
	ConnectEAGAIN  uint64 `json:"connect_eagain,omitempty"`
	ConnectBlocked uint64 `json:"connect_blocked,omitempty"`
	// Backlog is the effective backlog; a full queue holds Backlog+1.
	Backlog uint32 `json:"backlog"`
	// HighWater is the longest accept queue; HighWaterAt when it was
	// reached (to within the tracer's read interval), zero if unknown.
	HighWater        uint32    `json:"high_water"`
	HighWaterAt      time.Time `json:"high_water_at"`
	OverflowsSynTime uint64    `json:"overflows_syn_time"`
	OverflowsAckTime uint64    `json:"overflows_ack_time"`
	// OverflowsCookieAckTime: SYN-cookie ACKs that found the queue full.
	OverflowsCookieAckTime uint64 `json:"overflows_cookie_ack_time"`
	Enqueued               uint64 `json:"enqueued"`
	Accepted               uint64 `json:"accepted"`
	// AcceptWait* are in seconds, from entering the queue to accept()
	// returning; P99 is a log2 bucket's upper bound, Max exact.
	AcceptWaitCount uint64               `json:"accept_wait_count"`
	AcceptWaitSum   float64              `json:"accept_wait_sum"`
	AcceptWaitP99   float64              `json:"accept_wait_p99"`
	AcceptWaitMax   float64              `json:"accept_wait_max"`
	AcceptErrors    []AdviseAcceptErrors `json:"accept_errors"`
	StallSeconds    float64              `json:"stall_seconds"`
	StallQueue      uint32               `json:"stall_queue"`
	StallOwners     []AdviseTracedOwner  `json:"stall_owners,omitempty"`
}

// AdviseAcceptErrors is AcceptErrors as AdviseTrace prints it.
type AdviseAcceptErrors struct {
	PID   int    `json:"pid"`
	Comm  string `json:"comm"`
	Errno string `json:"errno"`
	Count uint64 `json:"count"`
}

// AdviseTracedOwner is TracedOwner as AdviseTrace prints it.
type AdviseTracedOwner struct {
	PID   int    `json:"pid"`
	Comm  string `json:"comm"`
	State string `json:"state"`
}

// NewAdviseTrace is s's traced evidence over a window of seconds as advise
// prints it; stall is the threshold under which a held queue is not a stall.
func NewAdviseTrace(s *Snapshot, since time.Time, seconds float64, stall time.Duration) *AdviseTrace {
	a := &AdviseTrace{Since: since, Seconds: Round(seconds), Listeners: []AdviseTraceListener{}}
	if !since.IsZero() {
		a.Until = since.Add(time.Duration(seconds * float64(time.Second)))
	}
	for i := range s.Listeners {
		l := &s.Listeners[i]
		t := l.Traced
		if t == nil {
			continue
		}
		out := AdviseTraceListener{Address: l.Address, Port: l.Port, Path: l.Path, ConnectEAGAIN: t.ConnectEAGAIN,
			ConnectBlocked: t.ConnectBlocked.Count, Backlog: l.AcceptQueueMax,
			HighWater: t.HighWater, HighWaterAt: t.HighWaterAt,
			OverflowsSynTime: t.Overflows.SynTime, OverflowsAckTime: t.Overflows.AckTime,
			OverflowsCookieAckTime: t.Overflows.CookieAckTime,
			Enqueued:               t.Enqueued, Accepted: t.Accepted,
			AcceptWaitCount: t.AcceptWait.Count, AcceptWaitSum: t.AcceptWait.Sum(),
			AcceptWaitP99: t.AcceptWait.Quantile(0.99), AcceptWaitMax: t.AcceptWait.Max(),
			AcceptErrors: []AdviseAcceptErrors{}}
		for _, e := range t.AcceptErrors {
			out.AcceptErrors = append(out.AcceptErrors, AdviseAcceptErrors(e))
		}
		if st := t.Stall; st.Held >= stall && st.Held > 0 {
			out.StallSeconds, out.StallQueue = st.Held.Seconds(), st.Queue
			for _, o := range st.Owners {
				out.StallOwners = append(out.StallOwners, AdviseTracedOwner(o))
			}
		}
		a.Listeners = append(a.Listeners, out)
	}
	return a
}

// WatchTraced is a listener's eBPF evidence in one interval of watch --trace.
type WatchTraced struct {
	// IntervalHighWater is the exact longest accept queue in this interval
	// (since the previous report), IntervalHighWaterFill that over
	// backlog+1: 1 means the queue was full at some point of the interval.
	IntervalHighWater     uint32  `json:"interval_high_water"`
	IntervalHighWaterFill float64 `json:"interval_high_water_fill"`
	// AcceptQueueHighWater is the exact longest accept queue since watch
	// started; HighWaterRose says it was reached in this interval;
	// HighWaterFill is it over backlog+1.
	AcceptQueueHighWater uint32  `json:"accept_queue_high_water"`
	HighWaterRose        bool    `json:"high_water_rose"`
	HighWaterFill        float64 `json:"high_water_fill"`
	// Enqueued, Accepted, OverflowsAckTime and OverflowsCookieAckTime are
	// this interval's, exact; OverflowsSynTime too, derived from the
	// namespace's ListenOverflows (the sites sum to its rise).
	Enqueued               uint64 `json:"enqueued"`
	Accepted               uint64 `json:"accepted"`
	OverflowsSynTime       uint64 `json:"overflows_syn_time"`
	OverflowsAckTime       uint64 `json:"overflows_ack_time"`
	OverflowsCookieAckTime uint64 `json:"overflows_cookie_ack_time"`
	// AcceptWait is this interval's waits in the accept queue.
	AcceptWait WatchWait `json:"accept_wait_seconds"`
	// OldestQueuedSeconds is how long the oldest connection still in the
	// queue had waited at the report: a stall in progress.
	OldestQueuedSeconds float64 `json:"oldest_queued_seconds"`
	// Stalled: at the report the queue held connections with no accept()
	// for the --stall threshold or longer, StalledSeconds for how long.
	Stalled        bool    `json:"stalled"`
	StalledSeconds float64 `json:"stalled_seconds"`
	// Owners are the processes holding (or last accepting from) the
	// listener, with their state at the report ("T (stopped)").
	Owners []TracedOwner `json:"owners,omitempty"`
	// ConnectEAGAIN and ConnectBlocked are a Unix listener's connect()
	// calls refused with EAGAIN, and blocking ones that waited, because its
	// queue was full, in this interval (full mode; absent otherwise).
	ConnectEAGAIN  *uint64 `json:"connect_eagain,omitempty"`
	ConnectBlocked *uint64 `json:"connect_blocked,omitempty"`
}

// WatchWait is one interval's accept-queue waits: the count, and
// percentiles as the upper bound of the log2 bucket they fall in; Max is the
// exact longest wait since watch started.
type WatchWait struct {
	Count         uint64  `json:"count"`
	P50           float64 `json:"p50"`
	P90           float64 `json:"p90"`
	P99           float64 `json:"p99"`
	MaxSinceStart float64 `json:"max_since_start"`
	// Buckets are the interval's non-empty buckets, for the view's
	// histogram; the JSON keeps the percentiles only.
	Buckets []WaitBucket `json:"-"`
}

// NewWatchTraced is the interval that lw's last two reads of a listener
// with backlog span, as watch prints it, with the queue of queue
// connections at the report judged stalled after stall; nil when lw has
// no evidence.
func NewWatchTraced(lw *ListenerWindow, backlog, queue uint32, stall time.Duration) *WatchTraced {
	last, interval := lw.Traced(), lw.TracedInterval()
	if last == nil {
		return nil
	}
	maxWait := last.AcceptWait.Max()
	stalled, held := last.Stalled(queue, stall)
	return &WatchTraced{
		IntervalHighWater: last.IntervalHighWater, IntervalHighWaterFill: last.IntervalFill(backlog),
		AcceptQueueHighWater: last.HighWater, HighWaterRose: lw.HighWaterRose(), HighWaterFill: last.Fill(backlog),
		Enqueued: interval.Enqueued, Accepted: interval.Accepted, OverflowsSynTime: interval.Overflows.SynTime,
		OverflowsAckTime: interval.Overflows.AckTime, OverflowsCookieAckTime: interval.Overflows.CookieAckTime,
		AcceptWait: WatchWait{Count: interval.AcceptWait.Count, MaxSinceStart: maxWait,
			P50:     interval.AcceptWait.QuantileCapped(0.50, maxWait),
			P90:     interval.AcceptWait.QuantileCapped(0.90, maxWait),
			P99:     interval.AcceptWait.QuantileCapped(0.99, maxWait),
			Buckets: interval.AcceptWait.Summary().Buckets},
		OldestQueuedSeconds: last.OldestQueued.Seconds(), Stalled: stalled, StalledSeconds: held.Seconds(),
		Owners: last.Owners,
	}
}

// WithUnixConnects adds to w the connect() figures of lw's last interval:
// a Unix listener's, traced in full mode.
func (w *WatchTraced) WithUnixConnects(lw *ListenerWindow) *WatchTraced {
	if w == nil {
		return nil
	}
	interval := lw.TracedInterval()
	eagain, blocked := interval.ConnectEAGAIN, interval.ConnectBlocked.Count
	w.ConnectEAGAIN, w.ConnectBlocked = &eagain, &blocked
	return w
}
