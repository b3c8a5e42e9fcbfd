package inspect

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/tableprinter"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/sysctl"
)

// renderTable draws the snapshot as four sections.
func renderTable(io *iostreams.IOStreams, s *model.Snapshot) error {
	w := io.Out
	sections := []struct {
		title string
		draw  func() error
	}{
		{"Tunables", func() error { return drawTunables(io, s) }},
		{"Listeners", func() error { return drawListeners(io, s) }},
		{"Counters", func() error { return drawCounters(io, s) }},
		{"Descriptors", func() error { return drawFiles(io, s) }},
	}
	for i, sec := range sections {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "# %s\n", sec.title)
		if err := sec.draw(); err != nil {
			return err
		}
	}
	for _, warn := range s.Warnings {
		io.Warn(warn)
	}
	return nil
}

func drawTunables(io *iostreams.IOStreams, s *model.Snapshot) error {
	t := tableprinter.For(io.Out, io, "KEY", "VALUE", "SCOPE", "MEANING").
		WrapColumn("MEANING").DropColumns("SCOPE")
	for _, k := range sysctl.Registry {
		v, ok := s.Sysctls[k.Name]
		val := "absent"
		if ok {
			val = strconv.FormatInt(v, 10)
		}
		t.AddRow(k.Name, val, scopeText(k.Scope), k.Meaning)
	}
	return t.Render()
}

func scopeText(s sysctl.Scope) string {
	if s == sysctl.ScopeNetns {
		return "per-netns"
	}
	return "global"
}

func drawListeners(io *iostreams.IOStreams, s *model.Snapshot) error {
	w := io.Out
	header := []string{"ADDRESS", "PORT", "ACCEPT-Q", "BACKLOG", "FILL", "SYN-Q", "DROPS", "GROUP", "INODE", "UID", "PROCESSES"}
	// A POD column where an owner runs in a Kubernetes pod the runtime named.
	pods := model.AnyInPod(s.Listeners)
	if pods {
		header = slices.Insert(header, len(header)-1, "POD")
	}
	// A narrow terminal keeps the accept queue, backlog, drops and owners:
	// it drops the socket's identity, the owners' pod, the SYN queue and the
	// fill (the queue over the backlog), then shortens a long Unix path.
	t := tableprinter.For(w, io, header...).
		WrapColumn("PROCESSES").WrapAtLeast(16).DropColumns("INODE", "UID", "GROUP", "POD", "SYN-Q", "FILL", "DROPS").CutColumns("PORT", "ADDRESS")
	for _, l := range s.Listeners {
		drops := "-"
		if l.Drops != nil {
			drops = strconv.FormatUint(uint64(*l.Drops), 10)
		}
		group := "-"
		if l.ReuseportGroup > 0 {
			group = fmt.Sprintf("rp%d/%d", l.ReuseportGroup, l.ReuseportSize)
		}
		addr, port := l.Columns()
		syn := strconv.FormatUint(uint64(l.SynQueue), 10)
		if l.BoundIfindex != 0 {
			addr += "%" + strconv.FormatUint(uint64(l.BoundIfindex), 10) // like ss's 0.0.0.0%eth0, by index
		}
		if l.IsUnix() {
			syn = "-" // no handshake, so no SYN queue
		}
		row := []string{addr, port,
			strconv.FormatUint(uint64(l.AcceptQueue), 10),
			strconv.FormatUint(uint64(l.AcceptQueueMax), 10),
			strconv.FormatFloat(l.Fill, 'f', 2, 64),
			syn,
			drops, group,
			strconv.FormatUint(uint64(l.Inode), 10),
			strconv.FormatUint(uint64(l.UID), 10),
			processText(l.Processes)}
		if pods {
			row = slices.Insert(row, len(row)-1, cmp.Or(model.PodsOf(l.Processes), "-"))
		}
		t.AddRow(row...)
	}
	if t.Len() == 0 {
		fmt.Fprintln(w, "no listening sockets")
		return nil
	}
	return t.Render()
}

// processText renders owners like "nginx[4242] fds=17/1024 hard=524288";
// descriptors inherited above the soft limit show as "fds=64+1/64".
func processText(ps []model.Process) string {
	if len(ps) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(ps))
	for _, p := range ps {
		fds := strconv.Itoa(p.OpenFDs - p.FDsAboveLimit)
		if p.FDsAboveLimit > 0 {
			fds += "+" + strconv.Itoa(p.FDsAboveLimit)
		}
		parts = append(parts, fmt.Sprintf("%s[%d] fds=%s/%s hard=%s",
			p.Comm, p.PID, fds, limitText(p.NofileSoft), limitText(p.NofileHard)))
	}
	return strings.Join(parts, ",")
}

func limitText(v uint64) string {
	if v == ^uint64(0) {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}

func drawCounters(io *iostreams.IOStreams, s *model.Snapshot) error {
	t := tableprinter.For(io.Out, io, "COUNTER", "VALUE", "MEANING").WrapColumn("MEANING")
	for _, name := range model.CounterNames {
		val := "absent"
		if v, ok := s.Counters[name]; ok {
			val = strconv.FormatUint(v, 10)
		}
		t.AddRow(name, val, model.KeyCounters[name])
	}
	return t.Render()
}

func drawFiles(io *iostreams.IOStreams, s *model.Snapshot) error {
	t := tableprinter.For(io.Out, io, "ALLOCATED", "FILE-MAX", "USAGE", "NR-OPEN")
	if s.Files == nil {
		fmt.Fprintln(io.Out, "fs.file-nr not visible here")
		return nil
	}
	f := s.Files
	t.AddRow(strconv.FormatInt(f.Allocated, 10), strconv.FormatInt(f.Max, 10),
		strconv.FormatFloat(f.Usage(), 'f', 4, 64), strconv.FormatInt(f.NrOpen, 10))
	return t.Render()
}
