package collect

import (
	"net/netip"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/trace"
	"github.com/backlogctl/backlogctl/trace/tracetest"
)

// reads is a trace.Source that serves its reads in turn.
type reads struct {
	evs []*trace.Evidence
	n   int
}

func (r *reads) Snapshot() (*trace.Evidence, error) {
	ev := r.evs[min(r.n, len(r.evs)-1)]
	r.n++
	return ev, nil
}
func (r *reads) Hooks() []trace.Hook { return nil }
func (r *reads) Memory() uint64      { return 0 }
func (r *reads) Close() error        { return nil }

// watch --trace's interval is the difference of two reads, folded as any
// window's: when the programs' slot for a listener was reset between the
// reads (it was evicted and taken again), the interval is the later read
// whole, not a count gone backwards wrapped to 2^64.
func TestWatcherTracedIntervalAfterReset(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	fd, addr := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 8, nstest.ListenOpts{})
	key := tracetest.Key(t, fd)
	read := func(enqueued, accepted uint64) *trace.Evidence {
		le := &trace.ListenerEvidence{Key: key, Tracked: true, Enqueued: enqueued, Accepted: accepted,
			AcceptWait: trace.Wait{Count: accepted, SumNs: accepted << 20, MaxNs: 1 << 21}, Drops: map[string]uint64{}}
		le.AcceptWait.Buckets[20] = accepted
		return &trace.Evidence{Time: time.Now(), Since: time.Now(), Listeners: map[trace.Key]*trace.ListenerEvidence{key: le}}
	}
	src := &reads{evs: []*trace.Evidence{read(10, 10), read(3, 2)}}
	w, err := NewWatcher(Options{Ports: []uint16{addr.Port()}, Trace: TraceOn,
		OpenTrace: func(trace.Options) (trace.Source, error) { return src, nil }}, WatchOptions{SynEvery: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var intervals []*model.WatchTraced
	for range 2 {
		if err := w.Sample(true); err != nil {
			t.Fatal(err)
		}
		rs, err := w.Report(time.Now(), false)
		if err != nil {
			t.Fatal(err)
		}
		intervals = append(intervals, rs[0].Listeners[0].Traced)
	}
	if i := intervals[0]; i.Enqueued != 10 || i.Accepted != 10 || i.AcceptWait.Count != 10 {
		t.Errorf("first interval %+v, want the first read whole", i)
	}
	if i := intervals[1]; i.Enqueued != 3 || i.Accepted != 2 || i.AcceptWait.Count != 2 || i.AcceptWait.P99 == 0 {
		t.Errorf("interval after the slot's reset %+v, want 3 enqueued, 2 accepted and waited (the later read whole)", i)
	}
}
