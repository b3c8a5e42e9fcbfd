package advise

import (
	"github.com/backlogctl/backlogctl/model"
)

// view is the input with what every rule derives from it: sysctl values,
// counters judged by change or total, and each listener's pressure.
type view struct {
	in     Input
	now    *model.Snapshot
	before *model.Snapshot // nil without --interval
	// window folds the two samples, with --interval: each listener's queue
	// in the first and its drops' increase.
	window model.Window
	// found are the findings of the rules run so far, in rule order.
	found []Finding
}

func newView(in Input) *view {
	v := &view{in: in, now: in.Now.Snapshot}
	if in.Before != nil {
		v.before = in.Before.Snapshot
		for _, s := range []*model.Snapshot{v.before, v.now} {
			qs := make([]model.QueueSample, len(s.Listeners))
			for i := range s.Listeners {
				qs[i] = model.QueueSampleOf(&s.Listeners[i])
			}
			v.window.Add(qs)
		}
	}
	return v
}

// beforeListener is what the first of two samples saw of the listener with
// this inode; ok is false without --interval or when it was not there.
func (v *view) beforeListener(inode uint32) (*model.ListenerWindow, bool) {
	if !v.sampled() {
		return nil, false
	}
	l, ok := v.window.Get(inode)
	return l, ok && l.FirstSample == 1
}

// sysctl returns a tunable's value and whether it is visible here.
func (v *view) sysctl(name string) (int64, bool) {
	val, ok := v.now.Sysctls[name]
	return val, ok
}

// sysctlp is sysctl as a pointer, nil when not visible: a Finding's Current.
func (v *view) sysctlp(name string) *int64 {
	if val, ok := v.sysctl(name); ok {
		return int64p(val)
	}
	return nil
}

// sampled reports whether two samples are being compared.
func (v *view) sampled() bool { return v.before != nil }

// counter returns how much a counter grew during the interval, or without
// one its total since boot; ok is false when the counter is absent (from
// either sample).
func (v *view) counter(name string) (uint64, bool) {
	now, ok := v.now.Counters[name]
	if !ok {
		return 0, false
	}
	if !v.sampled() {
		return now, true
	}
	before, ok := v.before.Counters[name]
	if !ok {
		return 0, false // unread in the first sample: a total is not a change
	}
	return model.Delta(before, now), true
}

// softnetDropped is counter for /proc/net/softnet_stat's dropped column.
func (v *view) softnetDropped() (uint64, bool) {
	now := v.in.Now.SoftnetDropped
	if now == nil {
		return 0, false
	}
	if !v.sampled() {
		return *now, true
	}
	if v.in.Before.SoftnetDropped == nil {
		return 0, false
	}
	return model.Delta(*v.in.Before.SoftnetDropped, *now), true
}

// counterKey names a counter's value in Evidence: NAME_delta for a change
// over the interval, NAME_since_boot for a total.
func (v *view) counterKey(name string) string {
	if v.sampled() {
		return name + "_delta"
	}
	return name + "_since_boot"
}

// withInterval adds interval_seconds to evidence when two samples are compared.
func (v *view) withInterval(ev map[string]float64) map[string]float64 {
	if v.sampled() {
		ev["interval_seconds"] = v.in.Interval.Seconds()
	}
	return ev
}

// since says when the namespace's counters started: at boot, or in a child
// network namespace when it was created.
func (v *view) since() string {
	switch {
	case v.in.ChildNetns:
		return "since this network namespace was created"
	case v.in.NetnsUnknown:
		return "since boot (or since this network namespace was created, if it is not the host's)"
	}
	return "since boot"
}

// totalsNote is appended to the reason of findings built on counter totals.
func (v *view) totalsNote() string {
	return " These are totals " + v.since() + ": run with --interval to see whether it is still happening."
}

// createdNote is appended to the reason of findings built on a listener's
// drop count without an interval.
const createdNote = " That count is a total since the socket was created (it survives reloads that keep the socket): run with --interval to see whether it is still rising."

// pressure is what a listener's accept queue did.
type pressure struct {
	// full: the queue held backlog+1 when sampled, the kernel's full
	// condition (sk_acceptq_is_full uses >).
	full, fullBefore bool
	// drops is the listener's drop count over the interval, or since the
	// socket was created without one; dropsKnown is false before Linux 4.7.
	drops      uint64
	dropsKnown bool
	// total is the drop count since the socket was created.
	total uint64
	// unix: a Unix listener, which refuses a connect() to its full queue
	// (EAGAIN) or makes it wait, and counts neither.
	unix bool
}

// active means the queue is overflowing now: full when sampled, or dropping
// during the interval. It is what makes a listener finding a warning.
func (p pressure) active(sampled bool) bool {
	return p.full || (sampled && p.drops > 0)
}

// historic means drops were counted since the socket was created, with no
// current evidence of them (no queue full now, no rise over an interval).
func (p pressure) historic(sampled bool) bool { return p.total > 0 && !p.active(sampled) }

func acceptQueueFull(l model.Listener) bool { return l.AcceptQueue > l.AcceptQueueMax }

// pressureOf judges one listener of the current sample.
func (v *view) pressureOf(l model.Listener) pressure {
	p := pressure{full: acceptQueueFull(l), dropsKnown: l.Drops != nil, unix: l.IsUnix()}
	if p.unix && v.sampled() {
		// No drop count: being full at both samples is the evidence.
		if b, ok := v.beforeListener(l.Inode); ok {
			p.fullBefore = b.FirstAcceptQueue > b.FirstAcceptQueueMax
		}
	}
	if !p.dropsKnown {
		return p
	}
	p.drops = uint64(*l.Drops)
	p.total = p.drops
	if v.sampled() {
		// A listener absent from the first sample was created during the
		// interval: all its drops happened since.
		if b, ok := v.beforeListener(l.Inode); ok {
			p.fullBefore = b.FirstAcceptQueue > b.FirstAcceptQueueMax
			inc, _ := b.DropsIncrease() // known: this sample has drops
			p.drops = uint64(inc)
		}
	}
	return p
}

// listenerEvidence is the numbers behind a listener finding.
func (v *view) listenerEvidence(l model.Listener, p pressure) map[string]float64 {
	ev := map[string]float64{
		"accept_queue": float64(l.AcceptQueue),
		"backlog":      float64(l.AcceptQueueMax),
	}
	if l.ReuseportSize > 1 {
		// One member of an SO_REUSEPORT group: each has its own queues.
		ev["inode"] = float64(l.Inode)
		ev["reuseport_size"] = float64(l.ReuseportSize)
	}
	if s, ok := v.sysctl("net.core.somaxconn"); ok {
		ev["somaxconn"] = float64(s)
	}
	if p.dropsKnown {
		if v.sampled() {
			ev["drops_delta"] = float64(p.drops)
		} else {
			ev["drops_since_created"] = float64(p.drops)
		}
	}
	if v.sampled() {
		if b, ok := v.beforeListener(l.Inode); ok {
			ev["accept_queue_before"] = float64(b.FirstAcceptQueue)
		}
	}
	return v.withInterval(ev)
}

// severityOf grades an overflowing listener: critical when pinned full at
// both samples and still dropping, warning when overflowing, info when only
// totals say so.
func (v *view) severityOf(p pressure) Severity {
	switch {
	case p.full && p.fullBefore && (p.drops > 0 || p.unix):
		return Critical
	case p.active(v.sampled()):
		return Warning
	}
	return Info
}
