package watch

import (
	"time"

	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/netns"
)

// Report is one print interval: a JSON line, or one redraw of the view.
type Report struct {
	Time time.Time `json:"time"`
	// IntervalSeconds is the time the report covers; Samples how many
	// sock_diag dumps were taken in it.
	IntervalSeconds float64 `json:"interval_seconds"`
	Samples         int     `json:"samples"`
	// Netns is set with --netns and --all-netns.
	Netns *netns.Namespace `json:"netns,omitempty"`
	// Traced is true when the listeners carry eBPF evidence (--trace).
	Traced bool `json:"traced,omitempty"`
	// TraceMode is what the programs trace, with Traced: queue or full.
	TraceMode string `json:"trace_mode,omitempty"`
	// Listeners are sorted by peak fill, fullest first.
	Listeners []ListenerReport `json:"listeners"`
	// Counters are the key counters (model.CounterNames) now; Rates their
	// increase per second over the interval.
	Counters map[string]uint64  `json:"counters"`
	Rates    map[string]float64 `json:"rates"`
	Warnings []string           `json:"warnings,omitempty"`
}

// ListenerReport is a listener as inspect reports it at the end of the
// interval, with what the samples in between saw.
type ListenerReport struct {
	model.Listener
	// PeakAcceptQueue, PeakFill and PeakSynQueue are the highest values any
	// sample in the interval saw, so a burst that drained before the print
	// still shows.
	PeakAcceptQueue uint32  `json:"peak_accept_queue"`
	PeakFill        float64 `json:"peak_fill"`
	PeakSynQueue    uint32  `json:"peak_syn_queue"`
	// DropsPerSecond is the listener's own drop counter's increase per second.
	DropsPerSecond float64 `json:"drops_per_second"`
	// Traced is the interval's eBPF evidence, with --trace.
	Traced *TracedInterval `json:"traced,omitempty"`
}

// MultiReport is a JSON line under --all-netns: one Report per namespace.
type MultiReport struct {
	Time       time.Time `json:"time"`
	Namespaces []*Report `json:"namespaces"`
	Notes      []string  `json:"notes,omitempty"`
}

// Peak is what the whole run saw of one listener, for the summary on exit.
type Peak struct {
	Netns       string  `json:"netns,omitempty"`
	Endpoint    string  `json:"endpoint"`
	Backlog     uint32  `json:"accept_queue_max"`
	AcceptQueue uint32  `json:"peak_accept_queue"`
	Fill        float64 `json:"peak_fill"`
	SynQueue    uint32  `json:"peak_syn_queue"`
	Drops       uint64  `json:"drops"`
}
