package exporter

import (
	"errors"
	"sync"

	"github.com/backlogctl/backlogctl/model"
)

// snapshotFlight shares one snapshot among the scrapes that arrive while it
// is being taken: at most one snapshot runs at a time (each holds threads
// inside other namespaces and shares the owner cache), and a burst of
// scrapes costs one snapshot, not one each queued behind the other.
type snapshotFlight struct {
	mu      sync.Mutex
	current *flightCall
	// joined counts scrapes that shared a snapshot another scrape took.
	joined int
}

// errSnapshotAborted is what sharers get if the snapshot they waited for
// panicked instead of returning.
var errSnapshotAborted = errors.New("snapshot aborted")

type flightCall struct {
	done chan struct{}
	m    *model.MultiSnapshot
	err  error
}

// do returns the snapshot being taken, or takes one. The snapshot is shared:
// callers must not change it.
func (f *snapshotFlight) do(take func() (*model.MultiSnapshot, error)) (*model.MultiSnapshot, error) {
	f.mu.Lock()
	if c := f.current; c != nil {
		f.joined++
		f.mu.Unlock()
		<-c.done
		return c.m, c.err
	}
	c := &flightCall{done: make(chan struct{}), err: errSnapshotAborted}
	f.current = c
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.current = nil
		f.mu.Unlock()
		close(c.done)
	}()
	c.m, c.err = take()
	return c.m, c.err
}

// sharers is how many scrapes have joined another's snapshot so far.
func (f *snapshotFlight) sharers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.joined
}
