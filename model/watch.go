package model

import "time"

// WatchReport is one print interval of watch: a JSON line, or one redraw
// of the view, for one network namespace.
type WatchReport struct {
	Time time.Time `json:"time"`
	// IntervalSeconds is the time the report covers; Samples how many
	// sock_diag dumps were taken in it.
	IntervalSeconds float64 `json:"interval_seconds"`
	Samples         int     `json:"samples"`
	// Netns is set with --netns and --all-netns.
	Netns *Namespace `json:"netns,omitempty"`
	// Traced is true when the listeners carry eBPF evidence (--trace).
	Traced bool `json:"traced,omitempty"`
	// TraceMode is what the programs trace, with Traced: queue or full.
	TraceMode string `json:"trace_mode,omitempty"`
	// Listeners are sorted by peak fill, fullest first.
	Listeners []WatchListener `json:"listeners"`
	// Counters are the key counters (model.CounterNames) now; Rates their
	// increase per second over the interval.
	Counters map[string]uint64  `json:"counters"`
	Rates    map[string]float64 `json:"rates"`
	Warnings []string           `json:"warnings,omitempty"`
}

// WatchListener is a listener as inspect reports it at the end of the
// interval, with what the samples in between saw.
type WatchListener struct {
	Listener
	// PeakAcceptQueue, PeakFill and PeakSynQueue are the highest values any
	// sample in the interval saw, so a burst that drained before the print
	// still shows.
	PeakAcceptQueue uint32  `json:"peak_accept_queue"`
	PeakFill        float64 `json:"peak_fill"`
	PeakSynQueue    uint32  `json:"peak_syn_queue"`
	// DropsPerSecond is the listener's own drop counter's increase per second.
	DropsPerSecond float64 `json:"drops_per_second"`
	// Traced is the interval's eBPF evidence, with --trace.
	Traced *WatchTraced `json:"traced,omitempty"`
}

// WatchMultiReport is a JSON line of watch --all-netns: one WatchReport
// per namespace.
type WatchMultiReport struct {
	Time       time.Time      `json:"time"`
	Namespaces []*WatchReport `json:"namespaces"`
	Notes      []string       `json:"notes,omitempty"`
}

// WatchPeak is what a whole watch run saw of one listener, for the summary
// on exit.
type WatchPeak struct {
	Netns       string  `json:"netns,omitempty"`
	Endpoint    string  `json:"endpoint"`
	Backlog     uint32  `json:"accept_queue_max"`
	AcceptQueue uint32  `json:"peak_accept_queue"`
	Fill        float64 `json:"peak_fill"`
	SynQueue    uint32  `json:"peak_syn_queue"`
	Drops       uint64  `json:"drops"`
}
