package collect

import (
	"cmp"
	"time"

	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/trace"
)

// ownersMaxAge is how long cached owners are trusted before a new walk,
// by default.
const ownersMaxAge = time.Minute

// Collector takes repeated snapshots of the namespaces its Options name,
// keeping between them what is costly to read again: the listeners' owners
// (OwnersCached, OwnersUnaccepted) and, with tracing, the attached programs
// and the baseline their derived figures count from. The exporter, trace
// and watch each hold one. Its methods may be called concurrently, but a
// traced read closes an interval of the programs' high water for every
// caller.
type Collector struct {
	o      Options
	owners *ownerCache
	tracer *tracer
}

// NewCollector starts what o asks for. With tracing the programs are
// attached and a first snapshot is taken as the baseline of the derived
// figures (it also gives every listener that exists its cookie). An error
// for which TraceUnavailable holds means the kernel refused the programs:
// nothing was attached, and a caller that can do without tracing asks again
// with TraceOff.
func NewCollector(o Options) (*Collector, error) {
	o.synWalks = &synWalks{}
	c := &Collector{o: o}
	switch o.Owners {
	case OwnersCached, OwnersUnaccepted:
		c.owners = &ownerCache{Roots: o.Roots, MaxAge: cmp.Or(o.OwnersMaxAge, ownersMaxAge), Background: true}
		if o.Pods {
			c.owners.Pods = newPodNamer(o.Roots.WithDefaults(), true)
		}
	}
	if o.Trace == TraceOff {
		return c, nil
	}
	tr, err := startTracer(o)
	if err != nil {
		return nil, err
	}
	c.tracer = tr
	base, err := c.untraced(OwnersOff)
	if err != nil {
		tr.close()
		return nil, err
	}
	tr.setBaseline(base)
	return c, nil
}

// TraceUnavailable reports whether err says the kernel does not allow
// tracing here (no BTF, no permission), as opposed to a failure while
// tracing.
func TraceUnavailable(err error) bool { return trace.Unavailable(err) }

// Tracing reports whether the collector's snapshots carry eBPF evidence.
func (c *Collector) Tracing() bool { return c.tracer != nil }

// Close detaches the programs, if any.
func (c *Collector) Close() error { return c.tracer.close() }

// Snapshot takes a snapshot, with the owners o.Owners asks for and, when
// tracing, the evidence read now joined to it (each traced snapshot
// closes an interval of the programs' high water).
func (c *Collector) Snapshot() (*model.MultiSnapshot, error) {
	if c.tracer == nil {
		return c.untraced(c.o.Owners)
	}
	ev, err := c.tracer.src.Snapshot()
	if err != nil {
		return nil, err
	}
	m, err := c.untraced(OwnersOff)
	if err != nil {
		return nil, err
	}
	if c.o.Owners == OwnersOn || c.o.Owners == OwnersCached || c.o.Owners == OwnersUnaccepted && unownedQueue(ev, m) {
		c.attachOwners(m)
	}
	c.tracer.mu.Lock()
	base := *c.tracer.base
	c.tracer.mu.Unlock()
	c.tracer.join(ev, m, base)
	return m, nil
}

// Untraced takes a snapshot with the owners o.Owners asks for and no
// evidence: one that several readers may share (the exporter's concurrent
// scrapes), each joining the evidence it reads with Trace.
func (c *Collector) Untraced() (*model.MultiSnapshot, error) { return c.untraced(c.o.Owners) }

// Trace is a copy of m with the evidence read now joined to it, when
// tracing; m itself when not.
func (c *Collector) Trace(m *model.MultiSnapshot) (*model.MultiSnapshot, error) {
	if c.tracer == nil {
		return m, nil
	}
	cp := *m
	cp.Namespaces = make([]model.NamespaceSnapshot, len(m.Namespaces))
	for i, ns := range m.Namespaces {
		snap := *ns.Snapshot
		snap.Listeners = append([]model.Listener(nil), ns.Listeners...)
		cp.Namespaces[i] = model.NamespaceSnapshot{Netns: ns.Netns, Snapshot: &snap}
	}
	if err := c.tracer.read(&cp, c.o.stall()); err != nil {
		return nil, err
	}
	return &cp, nil
}

// untraced takes a snapshot with owners found as owners says.
func (c *Collector) untraced(owners Owners) (*model.MultiSnapshot, error) {
	o := c.o
	o.Trace = TraceOff
	o.Owners = OwnersOff
	if owners == OwnersOn {
		o.Owners = OwnersOn
	}
	nss, notes, err := o.Namespaces.Resolve(o.Roots)
	if err != nil {
		return nil, err
	}
	m, err := snapshot(o, nss, notes)
	if err != nil {
		return nil, err
	}
	if owners == OwnersCached {
		c.attachOwners(m)
	}
	return m, nil
}

// attachOwners gives m's listeners their cached owners.
func (c *Collector) attachOwners(m *model.MultiSnapshot) {
	snaps := make([]*model.Snapshot, len(m.Namespaces))
	for i := range m.Namespaces {
		snaps[i] = m.Namespaces[i].Snapshot
	}
	if warn := c.owners.Attach(snaps...); warn != "" {
		m.Notes = append(m.Notes, warn)
	}
	m.Notes = append(m.Notes, c.owners.Pods.take()...)
}

// unownedQueue reports whether a listener holds connections while no
// accept() from it has been seen, so nothing names its owner.
func unownedQueue(ev *trace.Evidence, m *model.MultiSnapshot) bool {
	for _, ns := range m.Namespaces {
		for _, l := range ns.Listeners {
			if l.AcceptQueue == 0 {
				continue
			}
			le := ev.Listeners[trace.Key{Netns: ns.Netns.Inode, Cookie: l.Cookie}]
			if le == nil || le.LastAcceptPID == 0 {
				return true
			}
		}
	}
	return false
}
