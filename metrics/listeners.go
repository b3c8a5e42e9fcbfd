package metrics

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/backlogctl/backlogctl/model"
)

// listenersSource exports the listeners' queues and drops, one series per
// row, and how many listeners each namespace has.
type listenersSource struct{}

func (listenersSource) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAcceptQueue, descBacklog, descSynQueue, descDrops,
		descReuseportMaxFill, descListeners, descAggregated} {
		ch <- d
	}
}

func (listenersSource) collect(ch chan<- prometheus.Metric, s *scrape) {
	ch <- gauge(descAggregated, boolFloat(s.aggregate))
	for _, nr := range s.rows {
		ch <- gauge(descListeners, float64(len(nr.ns.Listeners)), nr.ns.Netns.Label())
		for _, r := range nr.rows {
			lv := r.labels()
			ch <- gauge(descAcceptQueue, float64(r.acceptQueue), lv...)
			ch <- gauge(descBacklog, float64(r.backlog), lv...)
			if r.path == "" { // a Unix listener has no SYN queue
				ch <- gauge(descSynQueue, float64(r.synQueue), lv...)
			}
			if r.hasDrops {
				ch <- prometheus.MustNewConstMetric(descDrops, prometheus.CounterValue, float64(r.drops), lv...)
			}
			if r.reuseportMembers > 1 {
				ch <- gauge(descReuseportMaxFill, r.reuseportMaxFill, lv...)
			}
		}
	}
}

// row is one listener series: a listener, a group of listeners that share
// every label (SO_REUSEPORT), or, under the guard, a whole port.
type row struct {
	netns, address, port, path     string
	process                        string
	pod, namespace, container      string
	acceptQueue, backlog, synQueue uint64
	drops                          uint64
	hasDrops                       bool
	// inodes are the sockets summed here, sorted; listeners the same
	// sockets, for their traced evidence.
	inodes    []uint32
	listeners []*model.Listener
	// reuseportMembers counts the SO_REUSEPORT group members summed here;
	// reuseportMaxFill is the fullest one's fill, which the sums hide.
	reuseportMembers int
	reuseportMaxFill float64
}

func (r *row) labels() []string {
	return []string{r.netns, r.address, r.port, r.path, r.process, r.pod, r.namespace, r.container}
}

// listenerRows merges listeners that would produce the same label set:
// queues, backlogs and drops add up; an SO_REUSEPORT group's SYN queue is
// one shared count, so it is taken once (max).
func listenerRows(netns string, ls []model.Listener, perPort bool) []row {
	idx := map[[7]string]int{}
	var rows []row
	for i := range ls {
		l := &ls[i]
		if l.OwnersPending && !perPort {
			continue
		}
		r := row{netns: netns, address: l.Address, port: strconv.Itoa(int(l.Port)), process: processLabel(l.Processes)}
		r.pod, r.namespace, r.container = workloadLabels(l.Processes)
		if l.IsUnix() {
			r.address, r.port, r.path = "", "", l.Path
		}
		if perPort {
			r.process, r.pod, r.namespace, r.container = "", "", "", ""
			if !l.IsUnix() {
				r.address = "*"
			}
		}
		k := [7]string{r.address, r.port, r.path, r.process, r.pod, r.namespace, r.container}
		j, ok := idx[k]
		if !ok {
			j = len(rows)
			idx[k] = j
			rows = append(rows, r)
		}
		rows[j].add(l)
	}
	for i := range rows {
		slices.Sort(rows[i].inodes)
	}
	return rows
}

// add sums l into r.
func (r *row) add(l *model.Listener) {
	r.inodes = append(r.inodes, l.Inode)
	r.listeners = append(r.listeners, l)
	r.acceptQueue += uint64(l.AcceptQueue)
	r.backlog += uint64(l.AcceptQueueMax)
	if l.SynQueueShared {
		r.synQueue = max(r.synQueue, uint64(l.SynQueue))
	} else {
		r.synQueue += uint64(l.SynQueue)
	}
	if l.Drops != nil {
		r.hasDrops = true
		r.drops += uint64(*l.Drops)
	}
	if l.ReuseportGroup != 0 {
		r.reuseportMembers++
		r.reuseportMaxFill = max(r.reuseportMaxFill, l.Fill)
	}
}

// foldPorts keeps at most limit per-port (or per-path) rows: the limit-1
// lowest ports, then Unix paths in order, and one port="other" row summing
// the rest.
func foldPorts(rows []row, limit int) []row {
	if len(rows) <= limit {
		return rows
	}
	slices.SortFunc(rows, func(a, b row) int {
		pa, _ := strconv.Atoi(a.port)
		pb, _ := strconv.Atoi(b.port)
		// A Unix row (path, no port) after every TCP one.
		return cmp.Or(cmp.Compare(boolFloat(a.path != ""), boolFloat(b.path != "")), cmp.Compare(pa, pb), cmp.Compare(a.path, b.path))
	})
	keep := max(limit-1, 0)
	other := row{netns: rows[0].netns, address: "*", port: "other"}
	for _, r := range rows[keep:] {
		other.inodes = append(other.inodes, r.inodes...)
		other.listeners = append(other.listeners, r.listeners...)
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
	return joined(ps, func(p model.Process) string { return p.Comm })
}

// workloadLabels are the owners' distinct pods, namespaces and container
// names, each sorted and comma-joined (one each, but for a socket passed
// between containers).
func workloadLabels(ps []model.Process) (pod, namespace, container string) {
	return joined(ps, func(p model.Process) string { return p.Pod }),
		joined(ps, func(p model.Process) string { return p.Namespace }),
		joined(ps, func(p model.Process) string { return p.Container })
}

// joined is the distinct non-empty values of field over ps, sorted,
// comma-joined.
func joined(ps []model.Process, field func(model.Process) string) string {
	names := make([]string, 0, len(ps))
	for _, p := range ps {
		if v := field(p); v != "" && !slices.Contains(names, v) {
			names = append(names, v)
		}
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}
