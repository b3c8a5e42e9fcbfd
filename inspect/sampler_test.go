package inspect

import (
	"net/netip"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
)

// A fast sample dumps both families in one request and carries each
// listener's SYN-queue count from the last full sample; Listeners turns the
// last sample into full model.Listener values.
func TestSamplerFastAndFull(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 16, nstest.ListenOpts{})
	_, stalled := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 64, nstest.ListenOpts{})
	dropFinalACK(t, stalled.Port())
	d, err := NewDumper()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s := NewSampler(d, Selection{})
	nstest.Connect(t, stalled)
	byPort := func() map[uint16]model.Listener {
		m := map[uint16]model.Listener{}
		for _, l := range s.Listeners() {
			m[l.Port] = l
		}
		return m
	}
	nstest.Eventually(t, 5*time.Second, "a half-open handshake in a full sample", func() bool {
		qs, err := s.Sample(SampleOptions{SynQueue: true})
		return err == nil && len(qs) == 2 && byPort()[stalled.Port()].SynQueue == 1
	})
	if l := byPort()[ep.Port()]; l.AcceptQueueMax != 16 || l.Family != "ipv4" || l.Address != "127.0.0.1" {
		t.Errorf("full sample: listener %+v, want 127.0.0.1 with backlog 16", l)
	}

	_, ep6 := nstest.Listen(t, netip.MustParseAddrPort("[::1]:0"), 8, nstest.ListenOpts{V6Only: true})
	nstest.Connect(t, ep)
	inode := byPort()[ep.Port()].Inode
	var qs []model.QueueSample
	nstest.Eventually(t, 5*time.Second, "the connection in the accept queue, in a fast sample", func() bool {
		qs, err = s.Sample(SampleOptions{})
		for _, q := range qs {
			if err == nil && q.Inode == inode && q.AcceptQueue == 1 {
				return true
			}
		}
		return false
	})
	if len(qs) != 3 {
		t.Errorf("fast sample: %d listeners, want 3 (the new IPv6 one too)", len(qs))
	}
	synInode := byPort()[stalled.Port()].Inode
	for _, q := range qs {
		if want := map[bool]uint32{true: 1}[q.Inode == synInode]; q.SynQueue != want {
			t.Errorf("fast sample: inode %d syn queue %d, want %d (carried from the full sample)", q.Inode, q.SynQueue, want)
		}
	}
	if l := byPort()[ep.Port()]; l.Drops != nil {
		t.Errorf("Listeners after a sample without drops: drops %d, want none", *l.Drops)
	}
	if _, err := s.Sample(SampleOptions{Drops: true}); err != nil {
		t.Fatal(err)
	}
	ls := byPort()
	if l := ls[ep.Port()]; l.Drops == nil || l.AcceptQueue != 1 {
		t.Errorf("Listeners after a sample with drops: %+v, want drops and accept queue 1", l)
	}
	if l := ls[ep6.Port()]; l.Family != "ipv6" || l.V6Only == nil || !*l.V6Only || l.AcceptQueueMax != 8 {
		t.Errorf("Listeners after a fast sample: IPv6 listener %+v", l)
	}
	if l := ls[stalled.Port()]; l.SynQueue != 1 {
		t.Errorf("Listeners after a fast sample: syn queue %d, want 1", l.SynQueue)
	}
}
