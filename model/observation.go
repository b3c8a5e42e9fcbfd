package model

import "time"

// Observation is what check judges in one network namespace: one moment,
// or an --observe window summarised (counters and drops as increases,
// queues as peaks), with the eBPF evidence of a traced window.
type Observation struct {
	// Sysctls holds the registry tunables visible here; SysctlErrors says
	// why a key could not be read (a key simply absent is in neither).
	Sysctls      map[string]int64  `json:"sysctls"`
	SysctlErrors map[string]string `json:"sysctl_errors,omitempty"`
	// Counters are totals since boot, or increases over the window.
	Counters map[string]uint64 `json:"counters"`
	// Files is nil when fs.file-nr is not visible or readable.
	Files *Files `json:"files,omitempty"`
	// Listeners are the listeners selected by port; ListenersError is set
	// when they could not be dumped at all.
	Listeners []ListenerObservation `json:"listeners"`
	// Ports are the ports listeners were selected by, if any.
	Ports []uint16 `json:"ports,omitempty"`
	// Paths are the Unix paths listeners were selected by, if any.
	Paths          []string `json:"paths,omitempty"`
	ListenersError string   `json:"listeners_error,omitempty"`
	// ProcessesScanned is true when listener owners were looked up.
	ProcessesScanned bool `json:"processes_scanned"`
	// Warnings say what could not be read, once each.
	Warnings []string `json:"warnings,omitempty"`
	// Trace is set when the --observe window was traced with eBPF, or
	// tracing was asked for and is unavailable here.
	Trace *TraceStatus `json:"trace,omitempty"`
	// Window is set for an --observe run.
	Window *WindowInfo `json:"window,omitempty"`
	// Snapshot is the snapshot the observation was built from (the
	// last one, for a window); nil when the listeners could not be dumped.
	// It lets a caller run advise rules for richer failure reasons, which
	// need to know whether it is of a child network namespace (ChildNetns,
	// NetnsUnknown when that could not be told).
	Snapshot                 *Snapshot `json:"-"`
	ChildNetns, NetnsUnknown bool      `json:"-"`
}

// WindowInfo describes an observation window.
type WindowInfo struct {
	Duration time.Duration `json:"duration_ns"`
	Interval time.Duration `json:"sample_interval_ns"`
	Samples  int           `json:"samples"`
}

// ListenerObservation is one listener as judged. In a window, AcceptQueue,
// Fill and SynQueue are the peaks seen, and Drops the increase.
type ListenerObservation struct {
	// Endpoint is "address:port", or a Unix listener's path.
	Endpoint string `json:"endpoint"`
	// Unix marks a Unix listener: it has no SYN queue and no drop count.
	Unix           bool    `json:"unix,omitempty"`
	Inode          uint32  `json:"inode"`
	AcceptQueue    uint32  `json:"accept_queue"`
	AcceptQueueMax uint32  `json:"accept_queue_max"`
	Fill           float64 `json:"fill"`
	SynQueue       uint32  `json:"syn_queue"`
	// Drops is nil on kernels that do not report it (before 4.7).
	Drops     *uint32   `json:"drops,omitempty"`
	Processes []Process `json:"processes"`
	// Traced are the traced window's listeners at this endpoint, each
	// carrying its evidence (several for an SO_REUSEPORT group); nil when
	// the window was not traced.
	Traced []Listener `json:"-"`
	// Appeared and Gone mark a listener first seen after the window's first
	// sample, or missing from its last.
	Appeared bool `json:"appeared,omitempty"`
	Gone     bool `json:"gone,omitempty"`
}

// TraceStatus says whether a window was traced and, if not, why.
type TraceStatus struct {
	Traced bool `json:"traced"`
	// Error is why tracing was not possible here.
	Error string `json:"error,omitempty"`
	// Stall is the threshold of a stalled queue.
	Stall time.Duration `json:"-"`
	// AcceptErrors are the failed accept() calls seen, by process and errno.
	AcceptErrors []AcceptErrors `json:"accept_errors,omitempty"`
	// Owners are the processes seen owning the traced listeners: each is
	// judged by process.accept_errors, with 0 when it had none.
	Owners []TracedOwner `json:"owners,omitempty"`
}

// ObservationOf builds a point-in-time observation from a snapshot, with
// its per-key sysctl read errors.
func ObservationOf(snap *Snapshot) *Observation {
	obs := &Observation{
		Sysctls:  snap.Sysctls,
		Counters: snap.Counters,
		Files:    snap.Files,
		Warnings: snap.Warnings,
		Snapshot: snap,
	}
	for k, err := range snap.SysctlErrors {
		if obs.SysctlErrors == nil {
			obs.SysctlErrors = map[string]string{}
		}
		obs.SysctlErrors[k] = err.Error()
	}
	for _, l := range snap.Listeners {
		obs.Listeners = append(obs.Listeners, listenerObservation(l))
	}
	return obs
}

func listenerObservation(l Listener) ListenerObservation {
	var drops *uint32
	if l.Drops != nil {
		d := *l.Drops
		drops = &d
	}
	return ListenerObservation{
		Endpoint:       l.Endpoint(),
		Unix:           l.IsUnix(),
		Inode:          l.Inode,
		AcceptQueue:    l.AcceptQueue,
		AcceptQueueMax: l.AcceptQueueMax,
		Fill:           l.Fill,
		SynQueue:       l.SynQueue,
		Drops:          drops,
		Processes:      l.Processes,
	}
}

// WindowListeners are the listeners an --observe window saw, as judged, in
// the order first seen (keyed by socket inode: a listener closed and
// re-opened on the same port is a new socket with its own record):
//   - accept_queue, fill and syn_queue are the peaks seen in any sample;
//   - accept_queue_max is the last value seen;
//   - drops is the increase over the window (ListenerWindow.DropsIncrease);
//   - a listener missing from the last sample is kept, marked Gone, with what
//     was seen up to its last sample (drops after that are not seen).
func WindowListeners(w *Window) []ListenerObservation {
	ws := w.Listeners()
	out := make([]ListenerObservation, 0, len(ws))
	for i := range ws {
		lw := &ws[i]
		o := listenerObservation(w.Last(lw))
		o.AcceptQueue, o.Fill, o.SynQueue = lw.PeakAcceptQueue, lw.PeakFill, lw.PeakSynQueue
		o.AcceptQueueMax = lw.AcceptQueueMax
		o.Drops = nil
		if inc, ok := lw.DropsIncrease(); ok {
			o.Drops = &inc
		}
		o.Appeared = lw.FirstSample > 1
		o.Gone = w.Gone(lw)
		out = append(out, o)
	}
	return out
}
