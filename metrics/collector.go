package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/backlogctl/backlogctl/model"
)

// DefaultMaxListeners is the cardinality guard's default.
const DefaultMaxListeners = 1000

// Source gathers the namespaces to report; it is called once per scrape.
type Source func() (*model.MultiSnapshot, error)

// Collector is a prometheus.Collector that takes a fresh snapshot on every
// scrape and hands it to one collector per source, as node_exporter does:
// the listeners (listeners.go), their eBPF evidence (traced.go) and the
// host's tunables, counters and descriptors (host.go). Beyond MaxListeners
// listeners in all, listener metrics are summed per network namespace and
// port (address="*", process=""), and backlogctl_listeners_aggregated is 1;
// if there are still more than MaxListeners series, the lowest-numbered
// ports keep their own and the rest are summed under port="other".
//
// A listener whose owners are still being looked up (OwnersPending) is left
// out of that scrape's listener series rather than published once with
// process="": Prometheus would keep that as a series of its own. It is still
// counted in backlogctl_listeners, and is summed in under the guard, which
// has no process label.
type Collector struct {
	Source       Source
	MaxListeners int

	// Resets, when set, remembers what each scraper was sent, so a socket
	// replaced between its scrapes shows as a counter reset (see Resets);
	// Scraper names the one this collection answers (its IP address).
	Resets  *Resets
	Scraper string
	// Gone, when set, is closed once the scraper has hung up: a snapshot it
	// no longer waits for is neither sent nor remembered as sent.
	Gone <-chan struct{}

	// Traced says the snapshots are traced with eBPF (exporter --trace):
	// the listeners' evidence is exported on their series, under the same
	// cardinality guard, with the processes' accept() errors, and
	// backlogctl_trace_up says whether this scrape's snapshot carries it.
	// TraceRefused says tracing was asked for and the kernel refused it:
	// backlogctl_trace_up is then 0.
	Traced       bool
	TraceRefused bool
}

// scrape is one snapshot, arranged once for every source: each namespace's
// listener series.
type scrape struct {
	m     *model.MultiSnapshot
	start time.Time
	// aggregate says the guard summed listener series per port.
	aggregate bool
	rows      []nsRows
}

// nsRows are one namespace's listener series.
type nsRows struct {
	ns   model.NamespaceSnapshot
	rows []row
}

// sources are the collectors each scrape's snapshot is handed to.
func (c *Collector) sources() []source {
	return []source{listenersSource{}, tracedSource{traced: c.Traced, refused: c.TraceRefused}, hostSource{}}
}

// source is the collector of one source of metrics.
type source interface {
	describe(ch chan<- *prometheus.Desc)
	collect(ch chan<- prometheus.Metric, s *scrape)
}

// Describe sends every metric description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, s := range c.sources() {
		s.describe(ch)
	}
	ch <- descScrapeDuration
	ch <- descScrapeNotes
}

// Collect gathers a snapshot and sends its metrics. A failed gather is sent
// as an invalid metric, which fails the scrape with the error's text.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	start := time.Now()
	m, err := c.Source()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descListeners, err)
		return
	}
	select {
	case <-c.Gone:
		return
	default:
	}
	s := c.arrange(m, start)
	for _, src := range c.sources() {
		src.collect(ch, s)
	}
	ch <- gauge(descScrapeNotes, float64(len(skipped(m.Notes))))
	ch <- gauge(descScrapeDuration, time.Since(start).Seconds())
}

// arrange makes each namespace's listener series under the guard, with the
// drops each scraper is sent.
func (c *Collector) arrange(m *model.MultiSnapshot, start time.Time) *scrape {
	total := 0
	for _, ns := range m.Namespaces {
		total += len(ns.Listeners)
	}
	limit := c.MaxListeners
	if limit <= 0 {
		limit = DefaultMaxListeners
	}
	s := &scrape{m: m, start: start, aggregate: total > limit}
	budget := limit
	for _, ns := range m.Namespaces {
		rows := listenerRows(ns.Netns.Label(), ns.Listeners, s.aggregate)
		if s.aggregate {
			rows = foldPorts(rows, budget)
			budget = max(budget-len(rows), 1)
		}
		if c.Resets != nil {
			for i, d := range c.Resets.drops(c.Scraper, rows, start) {
				rows[i].drops = d
			}
		}
		s.rows = append(s.rows, nsRows{ns: ns, rows: rows})
	}
	return s
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
