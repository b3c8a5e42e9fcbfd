package rlimit

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/tableprinter"
	"github.com/backlogctl/backlogctl/model"
)

// renderTable draws one line per process (per process and namespace, with
// a NETNS column first, when namespaces were named); warnings go to stderr.
func renderTable(io *iostreams.IOStreams, rep *model.LimitsReport, where string, namespaces bool) error {
	defer func() {
		for _, w := range rep.Warnings {
			io.Warn(w)
		}
	}()
	if len(rep.Processes) == 0 {
		fmt.Fprintln(io.Out, "no process owns a listening TCP socket "+where)
		return nil
	}
	nrOpen := "-"
	if rep.NrOpen != nil {
		nrOpen = strconv.FormatInt(*rep.NrOpen, 10)
	}
	header := []string{"PID", "COMM", "UNIT", "PORTS", "OPEN", "SOFT", "HARD", "USAGE", "NR-OPEN", "STATUS"}
	// A POD column where a process runs in a Kubernetes pod the runtime
	// named: there, not in a unit, is where its limit comes from.
	pods := slices.ContainsFunc(rep.Processes, func(p model.ProcessLimits) bool { return p.InPod() })
	if pods {
		header = slices.Insert(header, 3, "POD")
	}
	if namespaces {
		header = append([]string{"NETNS"}, header...)
	}
	// A narrow terminal keeps the limits and the usage: it drops the
	// host-wide nr_open, the pod, the unit and the ports first.
	t := tableprinter.For(io.Out, io, header...).WrapColumn("STATUS").
		DropColumns("NR-OPEN", "POD", "UNIT", "PORTS", "HARD", "NETNS").CutColumns("COMM", "UNIT", "PORTS", "NETNS")
	for _, p := range rep.Processes {
		open, usage := "-", "-"
		if p.OpenFDs != nil {
			open = strconv.Itoa(*p.OpenFDs - p.FDsAboveLimit)
			if p.FDsAboveLimit > 0 {
				open += "+" + strconv.Itoa(p.FDsAboveLimit) // inherited above the limit
			}
		}
		if p.Usage != nil {
			usage = strconv.FormatFloat(*p.Usage, 'f', 2, 64)
		}
		row := []string{strconv.Itoa(p.PID), orDash(p.Comm), orDash(p.Unit), portsText(p.Ports, p.Paths), open,
			model.FormatLimit(p.Nofile.Soft), model.FormatLimit(p.Nofile.Hard), usage, nrOpen, orDash(p.Status)}
		if pods {
			row = slices.Insert(row, 3, orDash(model.PodsOf([]model.Process{{Workload: p.Workload}})))
		}
		if namespaces {
			row = append([]string{orDash(p.Netns)}, row...)
		}
		t.AddRow(row...)
	}
	return t.Render()
}

// portsText is the PORTS column: the TCP ports, then the Unix paths.
func portsText(ports []uint16, paths []string) string {
	if len(ports)+len(paths) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(ports)+len(paths))
	for _, p := range ports {
		parts = append(parts, strconv.Itoa(int(p)))
	}
	return strings.Join(append(parts, paths...), ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
