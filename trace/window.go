package trace

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/backlogctl/backlogctl/inspect"
)

// Source is what a traced window reads evidence from: a *Collector, or a
// fake in tests.
type Source interface {
	Snapshot() (*Evidence, error)
	Hooks() []Hook
	Memory() uint64
	Close() error
}

// WindowOptions shape a traced observation window, the evidence advise,
// tune and check judge.
type WindowOptions struct {
	// Duration is how long to trace; ctx may end it sooner.
	Duration time.Duration
	// Interval is how often the evidence and the queues are read, to time
	// the high-water marks and see stalls that end before the window does.
	Interval time.Duration
	// Stall is the threshold of Listener.Stalled.
	Stall time.Duration
	// ProcRoot is where owners' states are read; "" means /proc.
	ProcRoot string
	// Gather takes the sock_diag snapshots of the namespaces judged.
	Gather func() (*inspect.MultiSnapshot, error)
	// Start attaches the programs; nil means Start (the kernel's).
	Start func() (Source, error)
	// Ready, when set, is called once the programs are attached and the
	// baseline taken: what happens from then on is seen.
	Ready func()
}

// Window is what a traced window saw: the report at its end and, per
// listener, what the end alone cannot say.
type Window struct {
	Report *Report
	// Seconds is how long the programs were attached when the window's
	// last read was taken.
	Seconds float64
	Marks   map[Key]Mark
}

// Mark is when a listener's queue peaked, and its longest stall.
type Mark struct {
	// HighWaterAt is the read at which AcceptQueueHighWater was first seen
	// at its final value: the peak happened within Interval before it.
	HighWaterAt time.Time
	// StallSeconds is the longest stall seen at any read; StallQueue the
	// queue length and StallOwners the owners (with their state) then.
	StallSeconds float64
	StallQueue   uint32
	StallOwners  []Owner
}

// Unavailable reports whether err says the kernel does not allow tracing
// here (no BTF, no permission), as opposed to a failure while tracing.
func Unavailable(err error) bool {
	return errors.Is(err, ErrNoBTF) || errors.Is(err, ErrNoPermission)
}

// Observe traces for o.Duration and returns the window's evidence, joined
// to the snapshots. An error that Unavailable accepts means nothing was
// attached: the caller falls back to sampling.
func Observe(ctx context.Context, o WindowOptions) (*Window, error) {
	if o.Interval <= 0 {
		return nil, fmt.Errorf("trace interval must be positive, got %v", o.Interval)
	}
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	start := o.Start
	if start == nil {
		start = Open
	}
	src, err := start()
	if err != nil {
		return nil, err
	}
	defer src.Close()
	base, err := o.Gather()
	if err != nil {
		return nil, err
	}
	w := &Window{Marks: map[Key]Mark{}}
	baseline := NewBaseline(base)
	if o.Ready != nil {
		o.Ready()
	}
	read := func() error {
		ev, err := src.Snapshot()
		if err != nil {
			return fmt.Errorf("trace: %w", err)
		}
		now, err := o.Gather()
		if err != nil {
			return err
		}
		states := OwnerStates(o.ProcRoot, OwnerPIDs(ev, now))
		r := Join(ev, JoinInput{Base: baseline, Now: now, Stall: o.Stall, States: states})
		w.mark(r)
		w.Report = r
		return nil
	}
	deadline := time.NewTimer(o.Duration)
	defer deadline.Stop()
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-tick.C:
		case <-deadline.C:
			done = true
		case <-ctx.Done():
			done = true
		}
		if err := read(); err != nil {
			return nil, err
		}
	}
	// From the attach to the last read, as the evidence itself says.
	w.Seconds = w.Report.Time.Sub(w.Report.Since).Seconds()
	w.Report.Tracer = Tracer{Programs: src.Hooks(), MapMemoryBytes: src.Memory(), RSSBytes: SelfRSS(o.ProcRoot)}
	return w, nil
}

// mark folds one read into the marks.
func (w *Window) mark(r *Report) {
	prev := map[Key]uint32{}
	if w.Report != nil {
		for _, l := range w.Report.Listeners {
			prev[Key{l.Netns, l.Cookie}] = l.AcceptQueueHighWater
		}
	}
	for _, l := range r.Listeners {
		k := Key{l.Netns, l.Cookie}
		m := w.Marks[k]
		if hw, seen := prev[k]; !seen && l.AcceptQueueHighWater > 0 || l.AcceptQueueHighWater > hw {
			m.HighWaterAt = r.Time
		}
		if l.Stalled && l.StalledSeconds > m.StallSeconds {
			m.StallSeconds, m.StallQueue, m.StallOwners = l.StalledSeconds, l.AcceptQueue, l.Processes
		}
		w.Marks[k] = m
	}
}

// Find is the window's listeners in namespace netns at endpoint
// ("127.0.0.1:80", "[::]:443"): several for a SO_REUSEPORT group.
func (w *Window) Find(netns uint64, endpoint string) []*Listener {
	var out []*Listener
	for i := range w.Report.Listeners {
		l := &w.Report.Listeners[i]
		if l.Netns == netns && l.Endpoint() == endpoint {
			out = append(out, l)
		}
	}
	return out
}

// Endpoint is "address:port", IPv6 bracketed, as inspect.Listener.Endpoint.
func (l *Listener) Endpoint() string {
	if a, err := netip.ParseAddr(l.Address); err == nil {
		return netip.AddrPortFrom(a, l.Port).String()
	}
	return net.JoinHostPort(l.Address, strconv.Itoa(int(l.Port)))
}

// HighWaterFill is the high water over the queue's capacity, backlog+1
// (what a full queue holds): 1 means it was full.
func (l *Listener) HighWaterFill() float64 {
	return float64(l.AcceptQueueHighWater) / float64(uint64(l.Backlog)+1)
}
