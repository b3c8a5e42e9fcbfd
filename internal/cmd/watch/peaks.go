package watch

import "github.com/backlogctl/backlogctl/inspect"

// peakSample is the highest of a listener's values the samples saw.
type peakSample struct {
	acceptQueue, synQueue uint32
	fill                  float64
}

// peakTable keeps each listener's peaks over a print interval, indexed by
// position in the sampler's dump order: while the listening sockets do not
// change, each sample's i-th listener is the same socket, so raising the
// peaks is a loop over two slices, with no map access or allocation.
// When the order changes, the peaks are carried over by inode.
type peakTable struct {
	inodes []uint32
	peaks  []peakSample
	// byInode is scratch for realign and the print's lookups.
	byInode map[uint32]peakSample
	indexed bool // byInode holds the current peaks
}

func newPeakTable() *peakTable { return &peakTable{byInode: map[uint32]peakSample{}} }

// observe raises the peaks with one sample.
func (p *peakTable) observe(qs []inspect.QueueSample) {
	if !p.aligned(qs) {
		p.realign(qs)
	}
	p.indexed = false
	for i := range qs {
		q, pk := &qs[i], &p.peaks[i]
		pk.acceptQueue = max(pk.acceptQueue, q.AcceptQueue)
		pk.synQueue = max(pk.synQueue, q.SynQueue)
		pk.fill = max(pk.fill, q.Fill())
	}
}

func (p *peakTable) aligned(qs []inspect.QueueSample) bool {
	if len(qs) != len(p.inodes) {
		return false
	}
	for i := range qs {
		if qs[i].Inode != p.inodes[i] {
			return false
		}
	}
	return true
}

// realign reorders the peaks to qs's listeners; one not seen before starts
// at zero, one no longer dumped is dropped.
func (p *peakTable) realign(qs []inspect.QueueSample) {
	p.index()
	p.inodes, p.peaks = p.inodes[:0], p.peaks[:0]
	for _, q := range qs {
		p.inodes = append(p.inodes, q.Inode)
		p.peaks = append(p.peaks, p.byInode[q.Inode])
	}
	p.indexed = false
}

// index fills byInode from the peaks.
func (p *peakTable) index() {
	if p.indexed {
		return
	}
	clear(p.byInode)
	for i, ino := range p.inodes {
		p.byInode[ino] = p.peaks[i]
	}
	p.indexed = true
}

// get is the listener's peaks over the interval.
func (p *peakTable) get(inode uint32) peakSample {
	p.index()
	return p.byInode[inode]
}

// reset starts a new interval.
func (p *peakTable) reset() {
	clear(p.peaks)
	p.indexed = false
}
