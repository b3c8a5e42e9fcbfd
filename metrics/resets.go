package metrics

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// Resets makes a replaced socket visible to Prometheus as a counter reset.
//
// backlogctl_listener_drops_total counts since its sockets were created. When
// every socket behind a series was replaced (a restart) and the new count is
// not below the last one a scraper was sent, Prometheus would read the new
// socket's drops as a small increase of the old count (720 then 876 looks
// like +156). So that scraper is sent 0 once, which Prometheus's increase()
// and resets() take as a reset, and the real count from the next scrape on.
// Prometheus (before 2.50, and without created-timestamp ingestion) reads no
// other sign of a reset than a value going down.
//
// A series that keeps some of its sockets (one SO_REUSEPORT member
// restarted, a port summed under the guard) is left alone: a reset there
// would count the survivors' whole history again, a far bigger error than
// missing what the new member dropped before its first scrape.
//
// What each scraper was sent is remembered per scraper (its IP address), so
// every Prometheus server of an HA pair sees the reset, for up to
// resetMemory after a series was last sent and for the resetClients most
// recent scrapers. The zero value is ready to use; safe for concurrent use.
type Resets struct {
	mu       sync.Mutex
	scrapers map[string]*scraperState
}

const (
	resetMemory  = time.Hour
	resetClients = 16
)

type scraperState struct {
	last   time.Time
	series map[string]sentDrops
}

// sentDrops is what one scraper was last sent for one series.
type sentDrops struct {
	inodes []uint32 // sorted
	drops  uint64
	sent   time.Time
}

// scraper returns the state for client, forgetting series and scrapers not
// seen for resetMemory, and the least recent scrapers beyond resetClients.
func (r *Resets) scraper(client string, now time.Time) *scraperState {
	if r.scrapers == nil {
		r.scrapers = map[string]*scraperState{}
	}
	for name, s := range r.scrapers {
		if now.Sub(s.last) > resetMemory {
			delete(r.scrapers, name)
		}
	}
	s := r.scrapers[client]
	if s == nil {
		for len(r.scrapers) >= resetClients {
			oldest := ""
			for name, o := range r.scrapers {
				if oldest == "" || o.last.Before(r.scrapers[oldest].last) {
					oldest = name
				}
			}
			delete(r.scrapers, oldest)
		}
		s = &scraperState{series: map[string]sentDrops{}}
		r.scrapers[client] = s
	}
	s.last = now
	for key, d := range s.series {
		if now.Sub(d.sent) > resetMemory {
			delete(s.series, key)
		}
	}
	return s
}

// drops decides what to send client for each row's drop count: the count,
// or 0 once when all the row's sockets were replaced without the count
// going down.
func (r *Resets) drops(client string, rows []row, now time.Time) []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.scraper(client, now)
	out := make([]uint64, len(rows))
	for i, row := range rows {
		key := strings.Join(row.labels(), "\xff")
		send := row.drops
		if prev, ok := s.series[key]; ok && prev.drops > 0 && row.drops >= prev.drops && disjoint(prev.inodes, row.inodes) {
			send = 0
		}
		s.series[key] = sentDrops{inodes: row.inodes, drops: send, sent: now}
		out[i] = send
	}
	return out
}

// disjoint reports whether no element of a is in b (sorted).
func disjoint(a, b []uint32) bool {
	for _, v := range a {
		if _, ok := slices.BinarySearch(b, v); ok {
			return false
		}
	}
	return true
}
