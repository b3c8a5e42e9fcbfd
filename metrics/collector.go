package metrics

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/backlogctl/backlogctl/model"
)

// DefaultMaxListeners is the cardinality guard's default.
const DefaultMaxListeners = 1000

// Source gathers the namespaces to report; it is called once per scrape.
type Source func() (*model.MultiSnapshot, error)

// Collector is a prometheus.Collector that takes a fresh snapshot on every
// scrape. Beyond MaxListeners listeners in all, listener metrics are summed
// per network namespace and port (address="*", process=""), and
// backlogctl_listeners_aggregated is 1; if there are still more than
// MaxListeners series, the lowest-numbered ports keep their own and the
// rest are summed under port="other".
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

	// Traced, when set, adds eBPF tracing's evidence (exporter --trace) to
	// the listener series, under the same cardinality guard, and the
	// processes' accept() errors. TraceRefused says tracing was asked for
	// and the kernel refused it: backlogctl_trace_up is then 0.
	Traced       TracedSource
	TraceRefused bool
	// TraceMode is what the programs trace (queue or full), for
	// backlogctl_trace_mode.
	TraceMode string
}

// Describe sends every metric description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAcceptQueue, descBacklog, descSynQueue, descDrops,
		descReuseportMaxFill, descListeners, descAggregated, descSysctl, descFilesAllocated, descFilesMax, descNrOpen,
		descOpenFDs, descMaxFDs, descScrapeDuration, descScrapeNotes,
		descAcceptWait, descTracedOverflows, descTracedDrops, descHighWaterFill, descAcceptErrors, descTraceUp,
		descTraceUntracedEvents, descListenerUntraced, descTraceMode} {
		ch <- d
	}
	for _, cd := range counterDescs {
		ch <- cd.desc
	}
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
	var tr *Traced
	if c.Traced != nil {
		tr, err = c.Traced(m)
		ch <- gauge(descTraceUp, boolFloat(err == nil && tr != nil))
		if err == nil && tr != nil {
			ch <- prometheus.MustNewConstMetric(descTraceUntracedEvents, prometheus.CounterValue, float64(tr.UntracedEvents))
			if c.TraceMode != "" {
				ch <- gauge(descTraceMode, 1, c.TraceMode)
			}
		}
	} else if c.TraceRefused {
		ch <- gauge(descTraceUp, 0)
	}
	total := 0
	for _, ns := range m.Namespaces {
		total += len(ns.Listeners)
	}
	limit := c.MaxListeners
	if limit <= 0 {
		limit = DefaultMaxListeners
	}
	aggregate := total > limit
	ch <- gauge(descAggregated, boolFloat(aggregate))
	budget := limit
	var files bool
	procs := map[int]model.Process{}
	for _, ns := range m.Namespaces {
		label := ns.Netns.Label()
		ch <- gauge(descListeners, float64(len(ns.Listeners)), label)
		rows := listenerRows(label, ns.Listeners, aggregate)
		if aggregate {
			rows = foldPorts(rows, budget)
			budget = max(budget-len(rows), 1)
		}
		if c.Resets != nil {
			for i, d := range c.Resets.drops(c.Scraper, rows, start) {
				rows[i].drops = d
			}
		}
		var traced []tracedRow
		if tr != nil {
			traced = tracedRows(rows, ns.Netns.Inode, ns.Listeners, tr)
			collectAcceptErrors(ch, tr, ns.Netns.Inode, label)
		}
		for i, r := range rows {
			lv := []string{r.netns, r.address, r.port, r.process}
			if traced != nil {
				collectTraced(ch, traced[i], lv)
			}
			ch <- gauge(descAcceptQueue, float64(r.acceptQueue), lv...)
			ch <- gauge(descBacklog, float64(r.backlog), lv...)
			ch <- gauge(descSynQueue, float64(r.synQueue), lv...)
			if r.hasDrops {
				ch <- prometheus.MustNewConstMetric(descDrops, prometheus.CounterValue, float64(r.drops), lv...)
			}
			if r.reuseportMembers > 1 {
				ch <- gauge(descReuseportMaxFill, r.reuseportMaxFill, lv...)
			}
		}
		for _, name := range sortedKeys(ns.Sysctls) {
			ch <- gauge(descSysctl, float64(ns.Sysctls[name]), label, name)
		}
		for _, cd := range counterDescs {
			if v, ok := ns.Counters[cd.nstat]; ok {
				ch <- prometheus.MustNewConstMetric(cd.desc, prometheus.CounterValue, float64(v), label)
			}
		}
		if ns.Files != nil && !files { // fs.file-nr is global: once
			files = true
			ch <- gauge(descFilesAllocated, float64(ns.Files.Allocated))
			ch <- gauge(descFilesMax, float64(ns.Files.Max))
			ch <- gauge(descNrOpen, float64(ns.Files.NrOpen))
		}
		for _, l := range ns.Listeners {
			for _, p := range l.Processes {
				procs[p.PID] = p
			}
		}
	}
	for _, pid := range sortedKeys(procs) {
		p := procs[pid]
		ch <- gauge(descOpenFDs, float64(p.OpenFDs), strconv.Itoa(pid), p.Comm)
		ch <- gauge(descMaxFDs, limitFloat(p.NofileSoft), strconv.Itoa(pid), p.Comm)
	}
	ch <- gauge(descScrapeNotes, float64(len(skipped(m.Notes))))
	ch <- gauge(descScrapeDuration, time.Since(start).Seconds())
}

// row is one listener series: a listener, a group of listeners that share
// every label (SO_REUSEPORT), or, under the guard, a whole port.
type row struct {
	netns, address, port, process  string
	acceptQueue, backlog, synQueue uint64
	drops                          uint64
	hasDrops                       bool
	// inodes are the sockets summed here, sorted; cookies the same sockets'
	// cookies, for the traced evidence.
	inodes  []uint32
	cookies []uint64
	// reuseportMembers counts the SO_REUSEPORT group members summed here;
	// reuseportMaxFill is the fullest one's fill, which the sums hide.
	reuseportMembers int
	reuseportMaxFill float64
}

// listenerRows merges listeners that would produce the same label set:
// queues, backlogs and drops add up; an SO_REUSEPORT group's SYN queue is
// one shared count, so it is taken once (max).
func listenerRows(netns string, ls []model.Listener, perPort bool) []row {
	idx := map[[3]string]int{}
	var rows []row
	for _, l := range ls {
		if l.OwnersPending && !perPort {
			continue
		}
		r := row{netns: netns, address: l.Address, port: strconv.Itoa(int(l.Port)), process: processLabel(l.Processes)}
		if perPort {
			r.address, r.process = "*", ""
		}
		k := [3]string{r.address, r.port, r.process}
		i, ok := idx[k]
		if !ok {
			i = len(rows)
			idx[k] = i
			rows = append(rows, r)
		}
		rows[i].inodes = append(rows[i].inodes, l.Inode)
		rows[i].cookies = append(rows[i].cookies, l.Cookie)
		rows[i].acceptQueue += uint64(l.AcceptQueue)
		rows[i].backlog += uint64(l.AcceptQueueMax)
		if l.SynQueueShared {
			rows[i].synQueue = max(rows[i].synQueue, uint64(l.SynQueue))
		} else {
			rows[i].synQueue += uint64(l.SynQueue)
		}
		if l.Drops != nil {
			rows[i].hasDrops = true
			rows[i].drops += uint64(*l.Drops)
		}
		if l.ReuseportGroup != 0 {
			rows[i].reuseportMembers++
			rows[i].reuseportMaxFill = max(rows[i].reuseportMaxFill, l.Fill)
		}
	}
	for i := range rows {
		slices.Sort(rows[i].inodes)
	}
	return rows
}

// foldPorts keeps at most limit per-port rows: the limit-1 lowest ports,
// and one port="other" row summing the rest.
func foldPorts(rows []row, limit int) []row {
	if len(rows) <= limit {
		return rows
	}
	slices.SortFunc(rows, func(a, b row) int {
		pa, _ := strconv.Atoi(a.port)
		pb, _ := strconv.Atoi(b.port)
		return cmp.Compare(pa, pb)
	})
	keep := max(limit-1, 0)
	other := row{netns: rows[0].netns, address: "*", port: "other"}
	for _, r := range rows[keep:] {
		other.inodes = append(other.inodes, r.inodes...)
		other.cookies = append(other.cookies, r.cookies...)
		other.acceptQueue += r.acceptQueue
		other.backlog += r.backlog
		other.synQueue += r.synQueue
		other.drops += r.drops
		other.hasDrops = other.hasDrops || r.hasDrops
		other.reuseportMembers += r.reuseportMembers
		other.reuseportMaxFill = max(other.reuseportMaxFill, r.reuseportMaxFill)
	}
	slices.Sort(other.inodes)
	return append(rows[:keep:keep], other)
}

// processLabel is the owners' distinct command names, sorted, comma-joined.
func processLabel(ps []model.Process) string {
	names := make([]string, 0, len(ps))
	for _, p := range ps {
		if !slices.Contains(names, p.Comm) {
			names = append(names, p.Comm)
		}
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// skipped keeps the notes that record a skipped namespace.
func skipped(notes []string) []string {
	var out []string
	for _, n := range notes {
		if strings.HasPrefix(n, "skipped ") {
			out = append(out, n)
		}
	}
	return out
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

// limitFloat reports RLIM_INFINITY as +Inf.
func limitFloat(v uint64) float64 {
	if v == ^uint64(0) {
		return prometheusInf
	}
	return float64(v)
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
