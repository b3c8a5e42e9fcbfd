package inspect

import (
	"fmt"

	"github.com/backlogctl/backlogctl/model"
)

// Sampler takes repeated listener samples on one Dumper, reusing its
// buffers, for watch-style polling. A sample is one sock_diag dump for both
// families (Dumper.DumpAll: the kernel walks its listening hash once) kept
// as raw queue lengths in dump order: no sorting, grouping or allocation per
// sample. Listeners turns the last sample into full Listener values when
// they are printed.
//
// Counting the SYN queue is the expensive part: request sockets live in the
// established hash, so asking for TCP_SYN_RECV makes the kernel walk every
// ehash bucket (inet_diag_dump_icsk), ~7ms with 262144 buckets, against
// ~1ms for the listening hash alone. Sample(false) skips that walk and
// carries each listener's SYN-queue count from the last SynQueue sample.
type Sampler struct {
	d     *Dumper
	tcp   bool            // the selection keeps TCP listeners
	ports map[uint16]bool // when non-nil, keep only these ports
	// unix samples the Unix listeners, after the TCP ones; nil when the
	// selection keeps none.
	unix *unixSampler

	// socks are the last sample's listeners in dump order; requests the
	// last full sample's request sockets.
	socks    []DiagSocket
	requests []request
	queues   []model.QueueSample
	// syn is each listener's SYN-queue count (by inode) at the last full
	// sample; empty when no listener had one.
	syn map[uint32]uint32
	// addrs caches Address strings: a host has few distinct addresses.
	addrs addrCache
	// layout is the last Listeners' order and groups, reused while valid.
	layout listenerLayout
}

// NewSampler returns a sampler on d keeping the listeners sel selects.
func NewSampler(d *Dumper, sel Selection) *Sampler {
	s := &Sampler{d: d, tcp: sel.TCP(), syn: map[uint32]uint32{}, addrs: addrCache{}}
	if len(sel.Ports) > 0 {
		s.ports = map[uint16]bool{}
		for _, p := range sel.Ports {
			s.ports[p] = true
		}
	}
	if sel.Unix() {
		s.unix = newUnixSampler(sel.Paths)
	}
	return s
}

// Warning says what the samples cannot show (NoUnixDiag), or "".
func (s *Sampler) Warning() string {
	if s.unix != nil && s.unix.unavailable {
		return NoUnixDiag
	}
	return ""
}

// SampleOptions say what a sample fetches beyond the accept queues.
type SampleOptions struct {
	// SynQueue recounts the SYN queue (the kernel's walk of the established
	// hash); otherwise the last count is carried.
	SynQueue bool
	// Drops fetches each listener's drop counter (INET_DIAG_SKMEMINFO: the
	// kernel's sk_get_meminfo per socket, ~a quarter of a dump's cost): only
	// a sample whose Listeners will be read needs it. A SynQueue sample
	// always fetches it, to tell request sockets from Fast Open children.
	Drops bool
}

// Sample dumps the listeners of both families. It returns their queues in
// dump order (stable while the listening sockets do not change); the slice
// is reused by the next call.
func (s *Sampler) Sample(o SampleOptions) ([]model.QueueSample, error) {
	synQueue := o.SynQueue
	states := uint32(1 << stateListen)
	var ext uint8
	if synQueue {
		states |= 1 << stateSynRecv
	}
	if synQueue || o.Drops {
		ext = extMemInfo
	}
	reset := func() {
		s.socks = s.socks[:0]
		if synQueue {
			s.requests = s.requests[:0]
		}
	}
	reset()
	if s.tcp {
		if err := s.d.dumpAll(states, ext, func(d *DiagSocket) { s.add(d, synQueue) }, reset); err != nil {
			return nil, fmt.Errorf("dumping listeners: %w", err)
		}
	}
	if s.unix != nil {
		if err := s.unix.sample(s.d); err != nil {
			return nil, err
		}
	}
	if synQueue {
		s.layout.valid = false // new requests to attribute
		clear(s.syn)
		for _, l := range s.tcpListeners() {
			if l.SynQueue > 0 {
				s.syn[l.Inode] = l.SynQueue
			}
		}
	}
	s.queues = s.queues[:0]
	for i := range s.socks {
		d := &s.socks[i]
		q := model.QueueSample{Inode: d.Inode, AcceptQueue: d.RQueue, AcceptQueueMax: d.WQueue}
		if len(s.syn) > 0 {
			q.SynQueue = s.syn[d.Inode]
		}
		s.queues = append(s.queues, q)
	}
	if s.unix != nil {
		s.queues = s.unix.appendQueues(s.queues)
	}
	return s.queues, nil
}

func (s *Sampler) add(d *DiagSocket, synQueue bool) {
	if s.ports != nil && !s.ports[d.LocalPort] {
		return
	}
	switch d.State {
	case stateListen:
		s.socks = append(s.socks, *d)
	case stateSynRecv:
		if r, ok := requestOf(d); ok && synQueue {
			s.requests = append(s.requests, r)
		}
	}
}

// Listeners returns the last sample's listeners as SelectedListeners would
// have reported them (TCP ones sorted, SO_REUSEPORT groups numbered, with
// the request sockets of the last full sample attributed to them; then the
// Unix ones). Drops are set only when the last sample fetched them. Each
// call returns a new slice.
func (s *Sampler) Listeners() []model.Listener {
	ls := s.tcpListeners()
	if s.unix != nil {
		ls = append(ls, s.unix.listeners()...)
	}
	return ls
}

// tcpListeners is Listeners' TCP part.
func (s *Sampler) tcpListeners() []model.Listener {
	ls := make([]model.Listener, len(s.socks))
	drops := make([]uint32, len(s.socks))
	v6only := make([]bool, len(s.socks))
	if s.layout.matches(s.socks) {
		for i, row := range s.layout.rows {
			l := &ls[i]
			*l = s.listener(row.sock, drops, v6only)
			l.ReuseportGroup, l.ReuseportSize = row.reuseportGroup, row.reuseportSize
			l.SynQueueShared, l.SynQueue = row.synQueueShared, row.synQueue
		}
		return ls
	}
	for i := range s.socks {
		ls[i] = s.listener(i, drops, v6only)
	}
	set := listenerSet{listeners: ls, requests: s.requests}
	ls = set.finish()
	s.layout.record(s.socks, ls)
	return ls
}

// listener is the i-th dumped socket as a Listener, its Drops and V6Only
// pointing into drops[i] and v6only[i].
func (s *Sampler) listener(i int, drops []uint32, v6only []bool) model.Listener {
	return listenerFrom(&s.socks[i], s.addrs, &drops[i], &v6only[i])
}
