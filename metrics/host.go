package metrics

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/backlogctl/backlogctl/model"
)

// hostSource exports what each namespace's kernel is set to and counted,
// the host's descriptor accounting, and the listener owners' descriptors.
type hostSource struct{}

func (hostSource) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSysctl, descFilesAllocated, descFilesMax, descNrOpen, descOpenFDs, descMaxFDs} {
		ch <- d
	}
	for _, cd := range counterDescs {
		ch <- cd.desc
	}
}

func (hostSource) collect(ch chan<- prometheus.Metric, s *scrape) {
	for _, ns := range s.m.Namespaces {
		collectKernel(ch, ns)
	}
	collectFiles(ch, s.m)
	collectProcesses(ch, s.m)
}

// collectKernel sends what one namespace's kernel is set to and counted.
func collectKernel(ch chan<- prometheus.Metric, ns model.NamespaceSnapshot) {
	label := ns.Netns.Label()
	for _, name := range sortedKeys(ns.Sysctls) {
		ch <- gauge(descSysctl, float64(ns.Sysctls[name]), label, name)
	}
	for _, cd := range counterDescs {
		if v, ok := ns.Counters[cd.nstat]; ok {
			ch <- prometheus.MustNewConstMetric(cd.desc, prometheus.CounterValue, float64(v), label)
		}
	}
}

// collectFiles sends the host's descriptor accounting: fs.file-nr is
// global, so once, from the first namespace that could read it.
func collectFiles(ch chan<- prometheus.Metric, m *model.MultiSnapshot) {
	for _, ns := range m.Namespaces {
		if f := ns.Files; f != nil {
			ch <- gauge(descFilesAllocated, float64(f.Allocated))
			ch <- gauge(descFilesMax, float64(f.Max))
			ch <- gauge(descNrOpen, float64(f.NrOpen))
			return
		}
	}
}

// collectProcesses sends each listener owner's descriptors, once per process.
func collectProcesses(ch chan<- prometheus.Metric, m *model.MultiSnapshot) {
	procs := map[int]model.Process{}
	for _, ns := range m.Namespaces {
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
