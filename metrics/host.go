package metrics

import (
	"cmp"
	"maps"
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

// collectProcesses sends each listener owner's descriptors: once per
// process, or for a process in a Kubernetes pod once per container and
// command name, from the one of them nearest its limit, so that a
// container's restart keeps its series (processLabels).
func collectProcesses(ch chan<- prometheus.Metric, m *model.MultiSnapshot) {
	series := map[[5]string]model.Process{}
	for _, ns := range m.Namespaces {
		for _, l := range ns.Listeners {
			for _, p := range l.Processes {
				k := processKey(p)
				if have, ok := series[k]; !ok || p.FDUsage() > have.FDUsage() || p.FDUsage() == have.FDUsage() && p.PID < have.PID {
					series[k] = p
				}
			}
		}
	}
	keys := slices.Collect(maps.Keys(series))
	slices.SortFunc(keys, func(a, b [5]string) int { return slices.Compare(a[:], b[:]) })
	for _, k := range keys {
		p := series[k]
		ch <- gauge(descOpenFDs, float64(p.OpenFDs), k[:]...)
		ch <- gauge(descMaxFDs, limitFloat(p.NofileSoft), k[:]...)
	}
}

// processKey is p's processLabels values.
func processKey(p model.Process) [5]string {
	if p.InPod() {
		return [5]string{"", p.Comm, p.Pod, p.Namespace, p.Container}
	}
	return [5]string{strconv.Itoa(p.PID), p.Comm, "", "", ""}
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
