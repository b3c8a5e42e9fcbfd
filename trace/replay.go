package trace

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Fixture variables for tracing, as inspect has for sock_diag: golden tests
// run whole commands on recorded evidence instead of the kernel's, and a
// run with the record variable set writes the evidence it read, in the same
// format, to make such a recording.
const (
	// EnvTraceReplay names a TraceRecording that Open replays: its n-th
	// Snapshot returns the n-th recorded read (the last, once they run out).
	EnvTraceReplay = "BACKLOGCTL_TRACE_REPLAY"
	// EnvTraceRecord names a file every read of the programs' maps is
	// appended to, rewritten after each.
	EnvTraceRecord = "BACKLOGCTL_TRACE_RECORD"
)

// Open starts tracing: the kernel's programs (Start with o), or the
// recording EnvTraceReplay names.
func Open(o Options) (Source, error) {
	if path := os.Getenv(EnvTraceReplay); path != "" {
		return openReplay(path)
	}
	c, err := Start(o)
	if err != nil {
		return nil, err
	}
	if path := os.Getenv(EnvTraceRecord); path != "" {
		return &recordingSource{Collector: c, path: path,
			rec: TraceRecording{Since: c.Since(), Hooks: c.Hooks(), Memory: c.Memory(), Mode: c.Mode(), ListenerSlots: c.ListenerSlots()}}, nil
	}
	return c, nil
}

// TraceRecording is a sequence of reads of the programs' maps.
type TraceRecording struct {
	// Since is when the programs were attached.
	Since  time.Time `json:"since"`
	Hooks  []Hook    `json:"hooks"`
	Memory uint64    `json:"memory"`
	// Mode is what the programs traced ("" in recordings from before
	// modes: full); ListenerSlots the listener table's size.
	Mode          Mode           `json:"mode,omitempty"`
	ListenerSlots int            `json:"listener_slots,omitempty"`
	Reads         []RecordedRead `json:"reads"`
}

// RecordedRead is one Evidence.
type RecordedRead struct {
	Time               time.Time            `json:"time"`
	IntervalSince      time.Time            `json:"interval_since"`
	Listeners          []RecordedListener   `json:"listeners"`
	UnattributedErrors []RecordedAcceptErrs `json:"unattributed_errors,omitempty"`
	// Untraced and UntracedEvents are Evidence's.
	Untraced        []RecordedUntraced `json:"untraced,omitempty"`
	UntracedEvents  uint64             `json:"untraced_events,omitempty"`
	ListenersTraced int                `json:"listeners_traced,omitempty"`
	ConnectRefusals []RecordedRefusal  `json:"connect_refusals,omitempty"`
}

// RecordedUntraced is one listener of Evidence.Untraced.
type RecordedUntraced struct {
	Netns  uint64 `json:"netns,omitempty"`
	Cookie uint64 `json:"cookie"`
	Events uint64 `json:"events"`
}

// RecordedListener is one ListenerEvidence. Netns 0 stands for the
// namespace the replaying process runs in.
type RecordedListener struct {
	Netns                uint64               `json:"netns,omitempty"`
	Cookie               uint64               `json:"cookie"`
	AcceptQueueHighWater uint32               `json:"accept_queue_high_water,omitempty"`
	IntervalHighWater    uint32               `json:"interval_high_water,omitempty"`
	Tracked              bool                 `json:"tracked,omitempty"`
	SynQueueHighWater    uint32               `json:"syn_queue_high_water,omitempty"`
	Enqueued             uint64               `json:"enqueued,omitempty"`
	Accepted             uint64               `json:"accepted,omitempty"`
	Drops                map[string]uint64    `json:"drops,omitempty"`
	WaitBuckets          map[int]uint64       `json:"wait_buckets,omitempty"`
	WaitCount            uint64               `json:"wait_count,omitempty"`
	WaitSumNs            uint64               `json:"wait_sum_ns,omitempty"`
	WaitMaxNs            uint64               `json:"wait_max_ns,omitempty"`
	WaitUnmatched        uint64               `json:"wait_unmatched,omitempty"`
	AcceptErrors         []RecordedAcceptErrs `json:"accept_errors,omitempty"`
	LastAccept           time.Time            `json:"last_accept,omitzero"`
	WaitingSince         time.Time            `json:"waiting_since,omitzero"`
	LastAcceptPID        int                  `json:"last_accept_pid,omitempty"`
	// The fields below are absent from recordings made before them: a
	// replay then takes every TCP_LISTEN_OVERFLOW drop as an ACK-time
	// overflow, as they were counted.
	MaxBacklog         uint32 `json:"max_backlog,omitempty"`
	AckOverflows       uint64 `json:"ack_overflows,omitempty"`
	CookieAckOverflows uint64 `json:"cookie_ack_overflows,omitempty"`
	WaitBoundNs        uint64 `json:"wait_bound_ns,omitempty"`
	WaitUnbounded      uint64 `json:"wait_unbounded,omitempty"`
	BaseLen            uint32 `json:"base_len,omitempty"`
	LastLen            uint32 `json:"last_len,omitempty"`
	IntervalEvents     bool   `json:"interval_events,omitempty"`
	// Dequeued is ListenerEvidence's; OldestSince is when the connection at
	// that place entered the queue (EnqueueTimes), zero when the ring did
	// not hold it or the queue was empty.
	Dequeued    uint64    `json:"dequeued,omitempty"`
	OldestSince time.Time `json:"oldest_since,omitzero"`
	// Unix listeners' (absent from older recordings).
	Unix           bool   `json:"unix,omitempty"`
	ConnectBlocked uint64 `json:"connect_blocked,omitempty"`
	BlockedSumNs   uint64 `json:"connect_blocked_sum_ns,omitempty"`
	BlockedMaxNs   uint64 `json:"connect_blocked_max_ns,omitempty"`
}

// RecordedRefusal is one ConnectRefusal; Netns 0 as in RecordedListener.
// SunPath is the address as text, an abstract name's NULs kept.
type RecordedRefusal struct {
	Netns   uint64 `json:"netns,omitempty"`
	PID     int    `json:"pid"`
	Type    uint16 `json:"type"`
	SunPath string `json:"sun_path"`
	Count   uint64 `json:"count"`
}

// RecordedAcceptErrs is one AcceptErrors; Netns 0 as in RecordedListener.
type RecordedAcceptErrs struct {
	Netns uint64 `json:"netns,omitempty"`
	PID   int    `json:"pid"`
	Errno string `json:"errno"`
	Count uint64 `json:"count"`
}

// replaySource serves a TraceRecording.
type replaySource struct {
	rec  TraceRecording
	here uint64
	mu   sync.Mutex
	next int
	// oldest are the last read's enqueue times of each listener's oldest
	// queued connection, by place, for EnqueuedAt.
	oldest map[Key]RecordedListener
}

func openReplay(path string) (*replaySource, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvTraceReplay, err)
	}
	r := &replaySource{}
	if err := json.Unmarshal(b, &r.rec); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", EnvTraceReplay, path, err)
	}
	if len(r.rec.Reads) == 0 {
		return nil, fmt.Errorf("%s: %s holds no read", EnvTraceReplay, path)
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return nil, fmt.Errorf("%s: the current network namespace: %w", EnvTraceReplay, err)
	}
	r.here = st.Ino
	return r, nil
}

func (r *replaySource) netns(n uint64) uint64 {
	if n == 0 {
		return r.here
	}
	return n
}

func (r *replaySource) Snapshot() (*Evidence, error) {
	r.mu.Lock()
	read := r.rec.Reads[min(r.next, len(r.rec.Reads)-1)]
	r.next++
	r.oldest = map[Key]RecordedListener{}
	for _, rl := range read.Listeners {
		if !rl.OldestSince.IsZero() {
			r.oldest[Key{Netns: r.netns(rl.Netns), Cookie: rl.Cookie}] = rl
		}
	}
	r.mu.Unlock()
	mode := r.rec.Mode
	if mode == "" {
		mode = ModeFull
	}
	ev := &Evidence{Mode: mode, Since: r.rec.Since, Time: read.Time, IntervalSince: read.IntervalSince, Listeners: map[Key]*ListenerEvidence{},
		ListenerSlots: r.rec.ListenerSlots, ListenersTraced: read.ListenersTraced, Untraced: map[Key]uint64{}, UntracedEvents: read.UntracedEvents}
	if ev.ListenerSlots == 0 {
		ev.ListenerSlots = DefaultListenerSlots
	}
	for _, u := range read.Untraced {
		ev.Untraced[Key{Netns: r.netns(u.Netns), Cookie: u.Cookie}] = u.Events
	}
	for _, rl := range read.Listeners {
		k := Key{Netns: r.netns(rl.Netns), Cookie: rl.Cookie}
		le := &ListenerEvidence{Key: k, AcceptQueueHighWater: rl.AcceptQueueHighWater, IntervalHighWater: rl.IntervalHighWater,
			Tracked: rl.Tracked, SynQueueHighWater: rl.SynQueueHighWater, Enqueued: rl.Enqueued, Accepted: rl.Accepted,
			Drops: map[string]uint64{}, LastAccept: rl.LastAccept, WaitingSince: rl.WaitingSince, LastAcceptPID: rl.LastAcceptPID,
			AcceptWait: Wait{Count: rl.WaitCount, SumNs: rl.WaitSumNs, MaxNs: rl.WaitMaxNs, Unmatched: rl.WaitUnmatched},
			MaxBacklog: rl.MaxBacklog, AckOverflows: rl.AckOverflows, CookieAckOverflows: rl.CookieAckOverflows,
			WaitBound: time.Duration(rl.WaitBoundNs), WaitUnbounded: rl.WaitUnbounded, BaseLen: rl.BaseLen, LastLen: rl.LastLen,
			IntervalEvents: rl.IntervalEvents, Dequeued: rl.Dequeued, Unix: rl.Unix,
			ConnectBlocked: ConnectWait{Count: rl.ConnectBlocked, SumNs: rl.BlockedSumNs, MaxNs: rl.BlockedMaxNs}}
		if rl.AckOverflows == 0 && rl.CookieAckOverflows == 0 {
			le.AckOverflows = rl.Drops[ListenOverflowReason]
		}
		for i, n := range rl.WaitBuckets {
			if i >= 0 && i < WaitBuckets {
				le.AcceptWait.Buckets[i] = n
			}
		}
		for reason, n := range rl.Drops {
			le.Drops[reason] = n
		}
		for _, e := range rl.AcceptErrors {
			le.AcceptErrors = append(le.AcceptErrors, AcceptErrors{Netns: r.netns(e.Netns), PID: e.PID, Errno: e.Errno, Count: e.Count})
		}
		ev.Listeners[k] = le
	}
	for _, e := range read.UnattributedErrors {
		ev.UnattributedErrors = append(ev.UnattributedErrors, AcceptErrors{Netns: r.netns(e.Netns), PID: e.PID, Errno: e.Errno, Count: e.Count})
	}
	for _, c := range read.ConnectRefusals {
		ev.ConnectRefusals = append(ev.ConnectRefusals, ConnectRefusal{Netns: r.netns(c.Netns), PID: c.PID, Type: c.Type,
			SunPath: []byte(c.SunPath), Count: c.Count})
	}
	return ev, nil
}

// EnqueuedAt is the recorded enqueue time of the oldest connection of the
// last read, for its place only.
func (r *replaySource) EnqueuedAt(k Key, place uint64) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rl, ok := r.oldest[k]
	if !ok || rl.Dequeued != place {
		return time.Time{}, false
	}
	return rl.OldestSince, true
}

func (r *replaySource) Hooks() []Hook  { return r.rec.Hooks }
func (r *replaySource) Memory() uint64 { return r.rec.Memory }
func (r *replaySource) Close() error   { return nil }

// recordingSource is a Collector whose every read is appended to a file.
type recordingSource struct {
	*Collector
	path string
	mu   sync.Mutex
	rec  TraceRecording
}

func (r *recordingSource) Snapshot() (*Evidence, error) {
	ev, err := r.Collector.Snapshot()
	if err != nil {
		return nil, err
	}
	read := RecordedRead{Time: ev.Time, IntervalSince: ev.IntervalSince, UntracedEvents: ev.UntracedEvents, ListenersTraced: ev.ListenersTraced}
	for k, n := range ev.Untraced {
		read.Untraced = append(read.Untraced, RecordedUntraced{Netns: k.Netns, Cookie: k.Cookie, Events: n})
	}
	for _, le := range ev.Listeners {
		rl := RecordedListener{Netns: le.Netns, Cookie: le.Cookie, AcceptQueueHighWater: le.AcceptQueueHighWater,
			IntervalHighWater: le.IntervalHighWater, Tracked: le.Tracked, SynQueueHighWater: le.SynQueueHighWater,
			Enqueued: le.Enqueued, Accepted: le.Accepted, Drops: le.Drops, WaitBuckets: map[int]uint64{},
			WaitCount: le.AcceptWait.Count, WaitSumNs: le.AcceptWait.SumNs, WaitMaxNs: le.AcceptWait.MaxNs,
			WaitUnmatched: le.AcceptWait.Unmatched, LastAccept: le.LastAccept, WaitingSince: le.WaitingSince, LastAcceptPID: le.LastAcceptPID,
			MaxBacklog: le.MaxBacklog, AckOverflows: le.AckOverflows, CookieAckOverflows: le.CookieAckOverflows,
			WaitBoundNs: uint64(le.WaitBound), WaitUnbounded: le.WaitUnbounded, BaseLen: le.BaseLen, LastLen: le.LastLen,
			IntervalEvents: le.IntervalEvents, Dequeued: le.Dequeued, Unix: le.Unix, ConnectBlocked: le.ConnectBlocked.Count,
			BlockedSumNs: le.ConnectBlocked.SumNs, BlockedMaxNs: le.ConnectBlocked.MaxNs}
		if int64(le.Enqueued-le.Dequeued) > 0 {
			rl.OldestSince, _ = r.Collector.EnqueuedAt(le.Key, le.Dequeued)
		}
		for i, n := range le.AcceptWait.Buckets {
			if n > 0 {
				rl.WaitBuckets[i] = n
			}
		}
		for _, e := range le.AcceptErrors {
			rl.AcceptErrors = append(rl.AcceptErrors, RecordedAcceptErrs{Netns: e.Netns, PID: e.PID, Errno: e.Errno, Count: e.Count})
		}
		read.Listeners = append(read.Listeners, rl)
	}
	for _, e := range ev.UnattributedErrors {
		read.UnattributedErrors = append(read.UnattributedErrors, RecordedAcceptErrs{Netns: e.Netns, PID: e.PID, Errno: e.Errno, Count: e.Count})
	}
	for _, c := range ev.ConnectRefusals {
		read.ConnectRefusals = append(read.ConnectRefusals, RecordedRefusal{Netns: c.Netns, PID: c.PID, Type: c.Type,
			SunPath: string(c.SunPath), Count: c.Count})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rec.Reads = append(r.rec.Reads, read)
	b, err := json.MarshalIndent(r.rec, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(r.path, append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("%s: %w", EnvTraceRecord, err)
	}
	return ev, nil
}
