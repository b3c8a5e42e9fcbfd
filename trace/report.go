package trace

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/backlogctl/backlogctl/inspect"
)

// Report is what trace prints at each interval: every listener's traced
// evidence since Since, joined to the sock_diag snapshot taken at Time. Its
// JSON form is a contract like inspect's: names are stable, fields may be added.
type Report struct {
	// Mode is what the programs attached: "full" or "queue".
	Mode  Mode      `json:"mode"`
	Time  time.Time `json:"time"`
	Since time.Time `json:"since"`
	// StallSeconds is the --stall threshold.
	StallSeconds float64    `json:"stall_seconds"`
	Listeners    []Listener `json:"listeners"`
	// UnattributedAcceptErrors are accept() errors whose listening socket
	// could not be resolved, by process (e.g. EBADF on a closed descriptor).
	UnattributedAcceptErrors []AcceptErrors `json:"unattributed_accept_errors"`
	// Exact and Derived name the listener fields in each class; Unavailable
	// those the mode does not see (queue mode: accept errors, the accepting
	// process).
	Exact       []string `json:"exact"`
	Derived     []string `json:"derived"`
	Unavailable []string `json:"unavailable"`
	Tracer      Tracer   `json:"tracer"`
	Notes       []string `json:"notes,omitempty"`
}

// ExactFields are counted by the programs at the event itself.
var ExactFields = []string{"accept_queue_high_water", "interval_high_water", "enqueued", "accepted", "overflows.ack_time", "overflows.cookie_ack_time",
	"drops", "accept_wait_seconds.count", "accept_wait_seconds.sum", "accept_wait_seconds.max",
	"accept_wait_seconds.buckets", "accept_wait_seconds.unmatched", "accept_errors"}

// DerivedFields are inferred: syn_time overflows from counters, the SYN
// queue's high water from samples, percentiles from log2 buckets, stalls
// from the last accept and the current queue.
var DerivedFields = []string{"overflows.syn_time", "syn_queue_high_water", "accept_wait_seconds.p50",
	"accept_wait_seconds.p90", "accept_wait_seconds.p99", "stalled"}

// QueueExactFields are exact in queue mode: accepted is the connections
// enqueued less those still queued (the queue is first in, first out).
var QueueExactFields = []string{"accept_queue_high_water", "enqueued", "accepted",
	"overflows.ack_time", "overflows.cookie_ack_time", "drops"}

// QueueDerivedFields are inferred in queue mode: the waits are upper
// bounds (accept_wait_seconds.bound says by how much at most), stalls are
// measured from the last enqueue that found a connection taken, and an
// interval's high water is its longest queue at an enqueue, or its length at
// the read when it had none: accepts are not seen, so the length at its
// start may be missing, but it was counted in the interval before (every
// peak is just after an enqueue), and a maximum over intervals misses none.
var QueueDerivedFields = []string{"interval_high_water", "overflows.syn_time", "syn_queue_high_water", "accept_wait_seconds", "stalled"}

// QueueUnavailableFields are not seen in queue mode (no accept hook).
var QueueUnavailableFields = []string{"accept_errors", "unattributed_accept_errors", "accept_wait_seconds.unmatched"}

// fieldClasses are the exact, derived and unavailable fields of mode m.
func fieldClasses(m Mode) (exact, derived, unavailable []string) {
	if m == ModeQueue {
		return QueueExactFields, QueueDerivedFields, QueueUnavailableFields
	}
	return ExactFields, DerivedFields, []string{}
}

// Tracer is what tracing itself costs and which programs it runs.
type Tracer struct {
	Programs []Hook `json:"programs"`
	// MapMemoryBytes is the kernel memory of the maps and programs (memlock).
	MapMemoryBytes uint64 `json:"map_memory_bytes"`
	// RSSBytes is backlogctl's own resident memory.
	RSSBytes uint64 `json:"rss_bytes"`
	// ListenerSlots is the size of the programs' listener table,
	// ListenersTraced the slots taken (by listeners of every namespace
	// traced, open or closed since).
	ListenerSlots   int `json:"listener_slots"`
	ListenersTraced int `json:"listeners_traced"`
	// UntracedEvents are the events of listeners that found the table full
	// (each such listener's own count is its untraced_events).
	UntracedEvents uint64 `json:"untraced_events"`
}

// Listener is one listening socket's evidence.
type Listener struct {
	Netns uint64 `json:"netns"`
	// NetnsName is the namespace's name under /run/netns, when it has one.
	NetnsName string `json:"netns_name,omitempty"`
	Cookie    uint64 `json:"cookie"`
	Family    string `json:"family"`
	Address   string `json:"address"`
	Port      uint16 `json:"port"`
	// Backlog is the effective backlog (sk_max_ack_backlog); the queue is
	// full at Backlog+1.
	Backlog uint32 `json:"backlog"`
	// AcceptQueue is the queue's length now (sock_diag).
	AcceptQueue uint32  `json:"accept_queue"`
	Processes   []Owner `json:"processes"`

	AcceptQueueHighWater uint32 `json:"accept_queue_high_water"`
	// IntervalHighWater is the longest the accept queue was since the
	// previous report (the previous read of the programs' maps), exact.
	IntervalHighWater uint32            `json:"interval_high_water"`
	SynQueueHighWater uint32            `json:"syn_queue_high_water"`
	Enqueued          uint64            `json:"enqueued"`
	Accepted          uint64            `json:"accepted"`
	Overflows         Overflows         `json:"overflows"`
	Drops             map[string]uint64 `json:"drops"`
	AcceptWait        Histogram         `json:"accept_wait_seconds"`
	AcceptErrors      []AcceptErrors    `json:"accept_errors"`
	// Stalled: the queue holds connections and no accept() took one for at
	// least the --stall threshold; StalledSeconds is for how long.
	Stalled        bool    `json:"stalled"`
	StalledSeconds float64 `json:"stalled_seconds"`
	// Untraced: the programs' listener table was full when this listener
	// had events, so its exact figures are not its whole story: they count
	// only the events after it got a slot (all 0 if it has none).
	// UntracedEvents are the events not counted; 0 with Untraced when more
	// listeners found the table full than could be named, and this one,
	// with no figures, may be among them.
	Untraced       bool   `json:"untraced"`
	UntracedEvents uint64 `json:"untraced_events"`
}

// Owner is a process holding the listener, with its scheduler state.
type Owner struct {
	PID  int    `json:"pid"`
	Comm string `json:"comm"`
	// State is /proc/PID/stat's state letter and meaning, e.g. "T (stopped)".
	State string `json:"state,omitempty"`
}

// Baseline is what sock_diag and the counters said when tracing started,
// for the derived figures.
type Baseline struct {
	// Overflows is TcpExtListenOverflows by namespace inode.
	Overflows map[uint64]uint64
	// Drops is each listener's own drop count (sk_drops).
	Drops map[Key]uint32
	// Full are the listeners whose accept queue was full (longer than the
	// backlog); Queue their queues' lengths.
	Full  map[Key]bool
	Queue map[Key]uint32
}

// NewBaseline records m's counters and listener drop counts.
func NewBaseline(m *inspect.MultiSnapshot) Baseline {
	b := Baseline{Overflows: map[uint64]uint64{}, Drops: map[Key]uint32{}, Full: map[Key]bool{}, Queue: map[Key]uint32{}}
	for _, ns := range m.Namespaces {
		b.Overflows[ns.Netns.Inode] = ns.Counters["TcpExtListenOverflows"]
		for _, l := range ns.Listeners {
			k := Key{ns.Netns.Inode, l.Cookie}
			b.Drops[k] = l.DropCount()
			b.Queue[k] = l.AcceptQueue
			if l.AcceptQueue > l.AcceptQueueMax {
				b.Full[k] = true
			}
		}
	}
	return b
}

// JoinInput is what Join needs besides the evidence.
type JoinInput struct {
	Base  Baseline
	Now   *inspect.MultiSnapshot
	Stall time.Duration
	// States are owners' names and /proc/PID/stat states by PID (OwnerStates
	// of OwnerPIDs).
	States map[int]ProcState
}

// Join makes the report: one Listener per listener in the snapshot, with
// its evidence (zero when nothing happened to it).
func Join(ev *Evidence, in JoinInput) *Report {
	mode := ev.Mode
	if mode == "" {
		mode = ModeFull
	}
	r := &Report{Mode: mode, Time: ev.Time, Since: ev.Since, StallSeconds: in.Stall.Seconds(),
		Listeners: []Listener{}, UnattributedAcceptErrors: []AcceptErrors{}}
	r.Exact, r.Derived, r.Unavailable = fieldClasses(mode)
	for _, ns := range in.Now.Namespaces {
		inode := ns.Netns.Inode
		first := len(r.Listeners)
		for _, l := range ns.Listeners {
			r.Listeners = append(r.Listeners, listenerOf(ns.Netns.Inode, ns.Netns.Name, l, ev, in))
		}
		deriveSynTime(r.Listeners[first:], ns, ev, in.Base)
		for _, e := range ev.UnattributedErrors {
			if e.Netns == inode {
				r.UnattributedAcceptErrors = append(r.UnattributedAcceptErrors, e)
			}
		}
	}
	sortErrors(r.UnattributedAcceptErrors)
	r.Tracer.ListenerSlots, r.Tracer.ListenersTraced, r.Tracer.UntracedEvents = ev.ListenerSlots, ev.ListenersTraced, ev.UntracedEvents
	if note := UntracedNote(ev); note != "" {
		r.Notes = append(r.Notes, note)
	}
	return r
}

// UntracedNote is the warning when listeners found the listener table
// full, or "" when none did.
func UntracedNote(ev *Evidence) string {
	if ev.UntracedEvents == 0 {
		return ""
	}
	if unnamed := ev.UntracedUnnamed(); unnamed > 0 {
		return fmt.Sprintf("listeners found eBPF's listener table full (%d slots): %d listed ones' exact figures miss %d events, and %d events of more listeners were not counted, so every listener without figures is marked untraced; raise --trace-listeners",
			ev.ListenerSlots, len(ev.Untraced), ev.UntracedEvents-unnamed, unnamed)
	}
	return fmt.Sprintf("%d listener(s) found eBPF's listener table full (%d slots): their exact figures miss %d events (marked untraced); raise --trace-listeners",
		len(ev.Untraced), ev.ListenerSlots, ev.UntracedEvents)
}

func listenerOf(inode uint64, name string, l inspect.Listener, ev *Evidence, in JoinInput) Listener {
	out := Listener{Netns: inode, NetnsName: name, Cookie: l.Cookie, Family: l.Family, Address: l.Address,
		Port: l.Port, Backlog: l.AcceptQueueMax, AcceptQueue: l.AcceptQueue, Processes: []Owner{},
		Drops: map[string]uint64{}, AcceptWait: newHistogram(nil, 0, 0, 0), AcceptErrors: []AcceptErrors{},
		SynQueueHighWater: l.SynQueue, AcceptQueueHighWater: l.AcceptQueue, IntervalHighWater: l.AcceptQueue}
	for _, p := range l.Processes {
		out.Processes = append(out.Processes, Owner{PID: p.PID, Comm: p.Comm, State: in.States[p.PID].State})
	}
	out.UntracedEvents = ev.Untraced[Key{inode, l.Cookie}]
	le := ev.Listeners[Key{inode, l.Cookie}]
	out.Untraced = out.UntracedEvents > 0 || le == nil && ev.UntracedUnnamed() > 0
	// Without a /proc walk, the process that accepted last is the owner.
	if le != nil && len(out.Processes) == 0 && le.LastAcceptPID > 0 {
		if st, ok := in.States[le.LastAcceptPID]; ok {
			out.Processes = append(out.Processes, Owner{PID: le.LastAcceptPID, Comm: st.Comm, State: st.State})
		}
	}
	waitingSince := ev.Since
	if le != nil {
		out.AcceptQueueHighWater = max(out.AcceptQueueHighWater, le.AcceptQueueHighWater)
		if le.Tracked {
			// Otherwise no enqueue or accept was seen since tracing began:
			// the queue held sock_diag's length throughout.
			out.IntervalHighWater = le.IntervalHighWater
		}
		out.SynQueueHighWater = max(out.SynQueueHighWater, le.SynQueueHighWater)
		out.Enqueued, out.Accepted = le.Enqueued, le.Accepted
		out.AcceptWait = le.AcceptWait
		for reason, n := range le.Drops {
			out.Drops[reason] = n
		}
		out.Overflows.AckTime, out.Overflows.CookieAckTime = le.AckOverflows, le.CookieAckOverflows
		for _, e := range le.AcceptErrors {
			e.Comm = in.States[e.PID].Comm
			out.AcceptErrors = append(out.AcceptErrors, e)
		}
		sortErrors(out.AcceptErrors)
		for _, t := range []time.Time{le.LastAccept, le.WaitingSince} {
			if t.After(waitingSince) {
				waitingSince = t
			}
		}
	}
	if ev.Mode == ModeQueue {
		queueAccepts(&out, l, le, ev, in, &waitingSince)
	}
	if held := ev.Time.Sub(waitingSince); l.AcceptQueue > 0 && held >= in.Stall {
		out.Stalled, out.StalledSeconds = true, held.Seconds()
	}
	return out
}

// queueAccepts fills what queue mode infers from the queue: accepted, the
// connections enqueued less those still queued now (sock_diag), not fewer
// than the programs inferred at the last enqueue; and an accept after that
// enqueue, if the queue is shorter now, ends any stall now (the latest it
// can have been, so that a stall is never longer than it was).
func queueAccepts(out *Listener, l inspect.Listener, le *ListenerEvidence, ev *Evidence, in JoinInput, waitingSince *time.Time) {
	k := Key{out.Netns, out.Cookie}
	out.AcceptWait.Unmatched = 0
	if le == nil || !le.Tracked {
		// No enqueue since tracing began: what left the queue was accepted.
		if before, ok := in.Base.Queue[k]; ok && before > l.AcceptQueue {
			out.Accepted = uint64(before - l.AcceptQueue)
			*waitingSince = ev.Time
		}
		return
	}
	out.AcceptWait.Bound = le.WaitBound.Seconds()
	out.AcceptWait.Unbounded = le.WaitUnbounded
	if !le.IntervalEvents {
		// No enqueue since the previous read: the queue can only have
		// shrunk, by accepts not seen. Its length now is the interval's
		// least high water; its length at the interval's start was counted
		// in the interval before (every peak is just after an enqueue).
		out.IntervalHighWater = l.AcceptQueue
	}
	total := le.Enqueued + uint64(le.BaseLen)
	if now := total - min(uint64(l.AcceptQueue), total); now > out.Accepted {
		out.Accepted = now
	}
	if l.AcceptQueue < le.LastLen {
		*waitingSince = ev.Time
	}
}

// deriveSynTime fills Overflows.SynTime for one namespace's listeners
// (SplitSynTime): its ListenOverflows rise less the ACK-time overflows
// counted, given to the listeners whose queue filled. The programs see every
// namespace, so its traced listeners not in the report (another port) take
// their part too.
func deriveSynTime(ls []Listener, ns inspect.NamespaceSnapshot, ev *Evidence, base Baseline) {
	before, ok := base.Overflows[ns.Netns.Inode]
	now := ns.Counters["TcpExtListenOverflows"]
	if !ok || now < before {
		return
	}
	inode := ns.Netns.Inode
	in := make([]SynTimeListener, 0, len(ls))
	index := map[Key]int{}
	for _, l := range ns.Listeners {
		k := Key{inode, l.Cookie}
		before, sampled := base.Drops[k]
		s := SynTimeListener{Key: k, Filled: base.Full[k] || l.AcceptQueue > l.AcceptQueueMax,
			DropsKnown: sampled && l.Drops != nil, DropsRise: uint64(l.DropCount() - before)} // sk_drops wraps as a u32
		if le := ev.Listeners[k]; le != nil {
			s.Filled = s.Filled || le.Filled()
			s.AckOverflows, s.CookieAckOverflows, s.DeferAcceptDrops = le.AckOverflows, le.CookieAckOverflows, le.Drops[DeferAcceptReason]
		}
		index[k] = len(in)
		in = append(in, s)
	}
	for k, le := range ev.Listeners {
		if _, seen := index[k]; k.Netns == inode && !seen {
			in = append(in, SynTimeListener{Key: k, Filled: le.Filled() || base.Full[k],
				AckOverflows: le.AckOverflows, CookieAckOverflows: le.CookieAckOverflows})
		}
	}
	shares := SplitSynTime(now-before, in)
	for i := range ls {
		if j, ok := index[Key{ls[i].Netns, ls[i].Cookie}]; ok {
			ls[i].Overflows.SynTime = shares[j]
		}
	}
}

func sortErrors(es []AcceptErrors) {
	slices.SortFunc(es, func(a, b AcceptErrors) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.PID, b.PID), cmp.Compare(a.Errno, b.Errno))
	})
}
