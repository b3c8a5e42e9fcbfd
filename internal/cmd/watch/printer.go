package watch

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/jsonfmt"
	"github.com/backlogctl/backlogctl/internal/tableprinter"
	"github.com/backlogctl/backlogctl/internal/yamlfmt"
	"github.com/backlogctl/backlogctl/model"
)

// ANSI: cursor home, then clear the screen; no curses needed.
const clearScreen = "\x1b[H\x1b[2J"

// printer writes reports as JSON Lines or as a redrawn view.
type printer struct {
	io   *iostreams.IOStreams
	opts *Options
	buf  *bufio.Writer
	enc  *json.Encoder
	line []byte // reused for each JSON line
	// started is set once the plain lines' header is written.
	started bool
	// fills is the view's last minute of each listener's fill (FILL-1M).
	fills fillHistory
}

func newPrinter(o *Options) *printer {
	buf := bufio.NewWriterSize(o.IO.Out, 64*1024)
	return &printer{io: o.IO, opts: o, buf: buf, enc: jsonfmt.NewEncoder(buf), fills: fillHistory{}}
}

func (p *printer) print(rs []*model.WatchReport, notes []string) error {
	for _, n := range notes {
		p.io.Note(n)
	}
	if p.opts.json() {
		if p.io.YAML() {
			var v any = rs[0]
			if p.opts.Namespaces.All {
				v = model.WatchMultiReport{Time: rs[0].Time, Namespaces: rs}
			}
			b, err := jsonfmt.Marshal(v)
			if err == nil {
				err = yamlfmt.WriteStream(p.buf, b)
			}
			if err != nil {
				return err
			}
			return p.buf.Flush()
		}
		if p.opts.Namespaces.All {
			if err := p.enc.Encode(model.WatchMultiReport{Time: rs[0].Time, Namespaces: rs}); err != nil {
				return err
			}
			return p.buf.Flush()
		}
		line, err := appendReport(p.line[:0], rs[0])
		if err != nil {
			return err
		}
		p.line = line
		if _, err := p.buf.Write(line); err != nil {
			return err
		}
		return p.buf.Flush()
	}
	if !p.io.IsStdoutTTY() {
		return p.plain(rs)
	}
	// The frame is cut to the terminal's width: a line that wrapped would
	// push the view past the screen's height and break the next redraw.
	width := p.io.TerminalWidth()
	var frame bytes.Buffer
	fmt.Fprint(&frame, tableprinter.Paragraph(fmt.Sprintf("backlogctl watch  %s  every %s, %d samples of %s (Ctrl-C: summary and exit)",
		rs[0].Time.Local().Format(time.TimeOnly), p.opts.Interval, rs[0].Samples, p.opts.SampleInterval), width, "", "  "))
	if rs[0].Traced {
		waits := "WAIT-P50/P99 this interval's accept waits"
		if rs[0].TraceMode == "queue" {
			waits = "WAIT-P50/P99 upper bounds of this interval's accept waits (accept() is not traced)"
		}
		fmt.Fprint(&frame, tableprinter.Paragraph(fmt.Sprintf("traced with eBPF (%s mode): HIGH is this interval's exact accept-queue high water (* a new high since start), %s, STALL how long the queue has held connections with no accept() (from %v), PROCESSES with their state", rs[0].TraceMode, waits, collect.DefaultStall), width, "", "  "))
	}
	p.fills.record(rs)
	// The header and the histograms take lines the listeners cannot.
	taken := strings.Count(frame.String(), "\n") - 1
	for _, r := range rs {
		taken += waitRows(busiestWaits(r.Listeners))
	}
	rows := listenerRows(p.io.TerminalHeight()-max(0, taken), len(rs))
	for _, r := range rs {
		if err := drawReport(&frame, p.io, r, rows, p.fills); err != nil {
			return err
		}
	}
	p.buf.WriteString(clearScreen)
	p.buf.WriteString(tableprinter.Cut(frame.String(), width))
	return p.buf.Flush()
}

// narrowDrops are the listener columns a narrow terminal leaves out, first
// to last: the current SYN queue, then the backlog, the SYN peak, the
// owners, the minute's sparkline and the accept-queue peak, keeping queue,
// fill and drops.
var narrowDrops = []string{"SYN-Q", "BACKLOG", "PEAK-SYN", "PROCESSES", "REFUSED", "POD", "WAIT-P50", "FILL-1M", "PEAK"}

// busiestWaits is the traced listener that accepted the most in the
// interval, whose accept waits the view draws; nil when none accepted.
func busiestWaits(ls []model.WatchListener) *model.WatchListener {
	var best *model.WatchListener
	for i := range ls {
		if tr := ls[i].Traced; tr != nil && tr.AcceptWait.Count > 0 && (best == nil || tr.AcceptWait.Count > best.Traced.AcceptWait.Count) {
			best = &ls[i]
		}
	}
	return best
}

// waitRows is how many lines l's accept-wait histogram takes (title
// included), 0 for none.
func waitRows(l *model.WatchListener) int {
	if l == nil {
		return 0
	}
	return cmdutil.WaitHistogramRows(l.Traced.AcceptWait.Buckets)
}

// plain writes one interval as tab-separated lines, one per listener, each
// starting with the time (and the namespace with --netns or --all-netns),
// under one header line: `-o table` into a pipe, for cut and awk, with no
// escape sequences.
func (p *printer) plain(rs []*model.WatchReport) error {
	namespaces := p.opts.Namespaces.Set()
	traced := rs[0].Traced
	if !p.started && !p.io.NoHeaders() {
		header, _ := listenerTable(traced, true, nil)
		if namespaces {
			header = append([]string{"NETNS"}, header...)
		}
		fmt.Fprintln(p.buf, "TIME\t"+strings.Join(header, "\t"))
	}
	p.started = true
	for _, r := range rs {
		stamp := r.Time.UTC().Format(time.RFC3339Nano)
		_, rows := listenerTable(traced, true, r.Listeners)
		t := tableprinter.New(p.buf, false)
		for _, row := range rows {
			if namespaces {
				row = append([]string{r.Netns.Label()}, row...)
			}
			t.AddRow(append([]string{stamp}, row...)...)
		}
		if err := t.Render(); err != nil {
			return err
		}
	}
	return p.buf.Flush()
}

// drawReport draws r with at most rows listeners (all when rows is 0): the
// fullest, since they are sorted by peak fill; fitted to the terminal's
// width (every column with -o wide), leaving out the least telling columns
// when they do not all fit.
func drawReport(w io.Writer, s *iostreams.IOStreams, r *model.WatchReport, rows int, fills fillHistory) error {
	fmt.Fprintln(w)
	if r.Netns != nil {
		fmt.Fprintf(w, "network namespace %s\n", r.Netns.Label())
	}
	shown := r.Listeners
	if rows > 0 && len(shown) > rows {
		shown = shown[:rows]
	}
	// A POD column where an owner (with --processes) runs in a known pod.
	pods := slices.ContainsFunc(shown, func(l model.WatchListener) bool { return model.AnyInPod([]model.Listener{l.Listener}) })
	header, cells := listenerTable(r.Traced, pods, shown)
	if fills != nil {
		// FILL-1M after the interval's fill: the last minute as a sparkline.
		at := max(slices.Index(header, "PEAK-FILL"), slices.Index(header, "HIGH-FILL")) + 1
		header = slices.Insert(header, at, "FILL-1M")
		for i, l := range shown {
			cells[i] = slices.Insert(cells[i], at, fills.sparkline(listenerKey(r, l), r.Time))
		}
	}
	t := tableprinter.For(w, s, header...).DropColumns(narrowDrops...).CutColumns("PORT", "PROCESSES", "POD", "ADDRESS")
	for _, row := range cells {
		t.AddRow(row...)
	}
	if t.Len() == 0 {
		fmt.Fprintln(w, "no listening sockets")
	} else if err := t.Render(); err != nil {
		return err
	}
	if more := len(r.Listeners) - len(shown); more > 0 {
		fmt.Fprintf(w, "... %d more listeners, less full (all: -o json or --port)\n", more)
	}
	if l := busiestWaits(r.Listeners); l != nil {
		addr, port := l.Columns()
		if !l.IsUnix() {
			addr = l.Endpoint()
			port = ""
		}
		title := fmt.Sprintf("Accept waits at %s%s in the last interval: %d accepted", addr, port, l.Traced.AcceptWait.Count)
		if err := cmdutil.WriteWaitHistogram(w, s.TerminalWidth(), title, l.Traced.AcceptWait.Buckets); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	c := tableprinter.For(w, s, "COUNTER", "TOTAL", "PER-SECOND")
	for _, name := range model.CounterNames {
		if v, ok := r.Counters[name]; ok {
			c.AddRow(name, strconv.FormatUint(v, 10), strconv.FormatFloat(r.Rates[name], 'f', 1, 64))
		}
	}
	return c.Render()
}

// summary prints, on a terminal, each listener's peaks over the whole run.
func (p *printer) summary(w *collect.Watcher) error {
	if p.opts.json() || !p.io.IsStdoutTTY() {
		return p.buf.Flush() // plain lines have no room for a second table
	}
	peaks := w.RunPeaks()
	slices.SortFunc(peaks, func(a, b model.WatchPeak) int {
		return cmp.Or(cmp.Compare(b.Fill, a.Fill), cmp.Compare(a.Netns, b.Netns), cmp.Compare(a.Endpoint, b.Endpoint))
	})
	fmt.Fprintln(p.buf, "\nPeaks over the run:")
	t := tableprinter.For(p.buf, p.io, "NETNS", "LISTENER", "BACKLOG", "PEAK-ACCEPT-Q", "PEAK-FILL", "PEAK-SYN-Q", "DROPS").
		DropColumns("NETNS", "PEAK-SYN-Q", "BACKLOG").CutColumns("LISTENER", "NETNS")
	for _, pk := range peaks {
		t.AddRow(cmp.Or(pk.Netns, "-"), pk.Endpoint, u32(pk.Backlog), u32(pk.AcceptQueue),
			strconv.FormatFloat(pk.Fill, 'f', 2, 64), u32(pk.SynQueue), strconv.FormatUint(pk.Drops, 10))
	}
	if t.Len() == 0 {
		fmt.Fprintln(p.buf, "no listeners were seen")
	} else if err := t.Render(); err != nil {
		return err
	}
	return p.buf.Flush()
}

func u32(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// withPod is a row or header whose second to last field is the POD
// column's, without it when no listener shown has a pod.
func withPod(pods bool, fields ...string) []string {
	if pods {
		return fields
	}
	return slices.Delete(fields, len(fields)-2, len(fields)-1)
}

// podText is the POD column: the owners' pods, or "-".
func podText(ps []model.Process) string {
	if s := model.PodsOf(ps); s != "" {
		return s
	}
	return "-"
}

func owners(ps []model.Process) string {
	if len(ps) == 0 {
		return "-"
	}
	s := ""
	for i, p := range ps {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprintf("%s[%d]", p.Comm, p.PID)
	}
	return s
}

// viewLines is what a report draws besides its listener rows, with a line
// to spare: a blank line,
// the netns line, the table header, the "more" line, a blank line, the
// counters' header and rows.
var viewLines = 6 + len(model.CounterNames)

// listenerRows is how many listener rows each of n reports may draw so the
// view fits height rows, like top: 0 (all) when the height is unknown, at
// least 3.
func listenerRows(height, n int) int {
	if height <= 0 || n <= 0 {
		return 0
	}
	return max(3, (height-1)/n-viewLines)
}

// listenerTable is the header and rows of the listener table: the sampled
// peaks, or for a traced report the interval's exact high water and
// accept-wait percentiles instead; a POD column when pods is true.
func listenerTable(traced, pods bool, ls []model.WatchListener) ([]string, [][]string) {
	if !traced {
		header := withPod(pods, "ADDRESS", "PORT", "ACCEPT-Q", "PEAK", "BACKLOG", "PEAK-FILL", "SYN-Q", "PEAK-SYN", "DROPS/S", "POD", "PROCESSES")
		rows := make([][]string, 0, len(ls))
		for _, l := range ls {
			addr, port := l.Columns()
			rows = append(rows, withPod(pods, addr, port, u32(l.AcceptQueue), u32(l.PeakAcceptQueue),
				u32(l.AcceptQueueMax), strconv.FormatFloat(l.PeakFill, 'f', 2, 64), u32(l.SynQueue),
				u32(l.PeakSynQueue), strconv.FormatFloat(l.DropsPerSecond, 'f', 1, 64), podText(l.Processes), owners(l.Processes)))
		}
		return header, rows
	}
	header := withPod(pods, "ADDRESS", "PORT", "ACCEPT-Q", "HIGH", "BACKLOG", "HIGH-FILL", "WAIT-P50", "WAIT-P99", "STALL", "SYN-Q", "PEAK-SYN", "DROPS/S", "REFUSED", "POD", "PROCESSES")
	rows := make([][]string, 0, len(ls))
	for _, l := range ls {
		tr := l.Traced
		if tr == nil {
			tr = &model.WatchTraced{IntervalHighWater: l.PeakAcceptQueue}
		}
		high := u32(tr.IntervalHighWater)
		if tr.HighWaterRose {
			high += "*"
		}
		addr, port := l.Columns()
		procs := owners(l.Processes)
		if len(tr.Owners) > 0 {
			procs = tracedOwners(tr.Owners)
		}
		rows = append(rows, withPod(pods, addr, port, u32(l.AcceptQueue), high,
			u32(l.AcceptQueueMax), strconv.FormatFloat(tr.IntervalHighWaterFill, 'f', 2, 64),
			waitText(tr.AcceptWait.Count, tr.AcceptWait.P50), waitText(tr.AcceptWait.Count, tr.AcceptWait.P99), stallText(tr), u32(l.SynQueue),
			u32(l.PeakSynQueue), strconv.FormatFloat(l.DropsPerSecond, 'f', 1, 64), refusedText(tr), podText(l.Processes), procs))
	}
	return header, rows
}

// stallText is how long a stalled queue has held connections with no
// accept(), "-" when it is not stalled.
func stallText(tr *model.WatchTraced) string {
	if !tr.Stalled {
		return "-"
	}
	return strconv.FormatFloat(tr.StalledSeconds, 'f', 1, 64) + "s"
}

// tracedOwners names the owners the trace saw with their state letter:
// "memcached[42]:T".
func tracedOwners(os []model.TracedOwner) string {
	s := ""
	for i, o := range os {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprintf("%s[%d]", o.Comm, o.PID)
		if o.State != "" {
			s += ":" + o.State[:1]
		}
	}
	return s
}

// refusedText is a Unix listener's connect() refusals in the interval,
// "-" for a TCP listener or in queue mode.
func refusedText(tr *model.WatchTraced) string {
	if tr.ConnectEAGAIN == nil {
		return "-"
	}
	return strconv.FormatUint(*tr.ConnectEAGAIN, 10)
}

// waitText prints a wait in ms, or "-" when nothing was accepted.
func waitText(count uint64, seconds float64) string {
	if count == 0 {
		return "-"
	}
	return strconv.FormatFloat(seconds*1000, 'g', 3, 64) + "ms"
}
