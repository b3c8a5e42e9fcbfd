package check

import (
	"time"

	"github.com/backlogctl/backlogctl/model"
)

// Observation is what requirements are judged against: one moment, or a
// window summarised (counters and drops as increases, queues as peaks).
type Observation struct {
	// Sysctls holds the registry tunables visible here; SysctlErrors says
	// why a key could not be read (a key simply absent is in neither).
	Sysctls      map[string]int64  `json:"sysctls"`
	SysctlErrors map[string]string `json:"sysctl_errors,omitempty"`
	// Counters are totals since boot, or increases over the window.
	Counters map[string]uint64 `json:"counters"`
	// Files is nil when fs.file-nr is not visible or readable.
	Files *model.Files `json:"files,omitempty"`
	// Listeners are the listeners selected by port; ListenersError is set
	// when they could not be dumped at all.
	Listeners []ListenerObservation `json:"listeners"`
	// Ports are the ports listeners were selected by, if any.
	Ports          []uint16 `json:"ports,omitempty"`
	ListenersError string   `json:"listeners_error,omitempty"`
	// ProcessesScanned is true when listener owners were looked up.
	ProcessesScanned bool `json:"processes_scanned"`
	// Warnings say what could not be read, once each.
	Warnings []string `json:"warnings,omitempty"`
	// Trace is set when the --observe window was traced with eBPF, or
	// tracing was asked for and is unavailable here.
	Trace *TraceStatus `json:"trace,omitempty"`
	// Window is set for an --observe run.
	Window *Window `json:"window,omitempty"`
	// Snapshot is the snapshot the observation was built from (the
	// last one, for a window); nil when the listeners could not be dumped.
	// It lets a caller run advise rules for richer failure reasons.
	Snapshot *model.Snapshot `json:"-"`
}

// Window describes an observation window.
type Window struct {
	Duration time.Duration `json:"duration_ns"`
	Interval time.Duration `json:"sample_interval_ns"`
	Samples  int           `json:"samples"`
}

// ListenerObservation is one listener as judged. In a window, AcceptQueue,
// Fill and SynQueue are the peaks seen, and Drops the increase.
type ListenerObservation struct {
	Endpoint       string  `json:"endpoint"`
	Inode          uint32  `json:"inode"`
	AcceptQueue    uint32  `json:"accept_queue"`
	AcceptQueueMax uint32  `json:"accept_queue_max"`
	Fill           float64 `json:"fill"`
	SynQueue       uint32  `json:"syn_queue"`
	// Drops is nil on kernels that do not report it (before 4.7).
	Drops     *uint32         `json:"drops,omitempty"`
	Processes []model.Process `json:"processes"`
	// Traced is the listener's eBPF evidence over a traced window; nil
	// when the window was not traced.
	Traced *TracedListener `json:"traced,omitempty"`
	// Appeared and Gone mark a listener first seen after the window's first
	// sample, or missing from its last.
	Appeared bool `json:"appeared,omitempty"`
	Gone     bool `json:"gone,omitempty"`
}

// FromSnapshot builds a point-in-time observation from a snapshot, with its
// per-key sysctl read errors.
func FromSnapshot(snap *model.Snapshot) *Observation {
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

func listenerObservation(l model.Listener) ListenerObservation {
	var drops *uint32
	if l.Drops != nil {
		d := *l.Drops
		drops = &d
	}
	return ListenerObservation{
		Endpoint:       l.Endpoint(),
		Inode:          l.Inode,
		AcceptQueue:    l.AcceptQueue,
		AcceptQueueMax: l.AcceptQueueMax,
		Fill:           l.Fill,
		SynQueue:       l.SynQueue,
		Drops:          drops,
		Processes:      l.Processes,
	}
}
