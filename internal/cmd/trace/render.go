package trace

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/jsonfmt"
	"github.com/backlogctl/backlogctl/internal/tableprinter"
	"github.com/backlogctl/backlogctl/internal/yamlfmt"
	"github.com/backlogctl/backlogctl/model"
)

// ANSI: cursor home, then clear the screen, as watch does.
const clearScreen = "\x1b[H\x1b[2J"

var header = []string{"NETNS", "ADDRESS", "PORT", "BACKLOG", "ACCEPT-Q", "AQ-HIGH", "SYNQ-HIGH", "ENQUEUED", "ACCEPTED",
	"OVF-SYN*", "OVF-ACK", "OVF-COOKIE", "REFUSED", "DROPS", "WAIT-P50", "WAIT-P99", "WAIT-MAX", "ACCEPT-ERRORS", "STALLED", "PROCESSES"}

type printer struct {
	o       *Options
	buf     *bufio.Writer
	enc     *json.Encoder
	started bool
	// end is when --duration ends (zero: at Ctrl-C).
	end time.Time
}

// view reports whether the output is the live view redrawn on a terminal.
func (p *printer) view() bool {
	return p.o.Output != "json" && p.o.IO.IsStdoutTTY()
}

func newPrinter(o *Options) *printer {
	buf := bufio.NewWriterSize(o.IO.Out, 64*1024)
	return &printer{o: o, buf: buf, enc: jsonfmt.NewEncoder(buf)}
}

// print writes one interval's report: a JSON line, a redrawn view on a
// terminal, or plain lines (with a header before the first).
func (p *printer) print(r *model.TraceReport, final bool) error {
	for _, n := range r.Notes {
		p.o.IO.Note(n)
	}
	if p.o.Output == "json" {
		if p.o.IO.YAML() {
			if err := writeYAML(p.buf, r); err != nil {
				return err
			}
		} else if err := p.enc.Encode(r); err != nil {
			return err
		}
		return p.buf.Flush()
	}
	ls := sorted(r.Listeners)
	if !p.o.IO.IsStdoutTTY() {
		if !p.started && !p.o.IO.NoHeaders() {
			fmt.Fprintln(p.buf, "TIME\t"+strings.Join(header, "\t"))
		}
		p.started = true
		stamp := r.Time.UTC().Format(time.RFC3339)
		for _, l := range ls {
			fmt.Fprintln(p.buf, stamp+"\t"+strings.Join(row(l), "\t"))
		}
		return p.buf.Flush()
	}
	if !final {
		p.buf.WriteString(clearScreen)
	}
	width := p.o.IO.TerminalWidth()
	fmt.Fprint(p.buf, tableprinter.Paragraph(fmt.Sprintf("backlogctl trace  %s  since %s (%s), every %s; %s mode, %d programs, %s of maps, RSS %s%s",
		r.Time.Local().Format(time.TimeOnly), r.Since.Local().Format(time.TimeOnly),
		r.Time.Sub(r.Since).Round(time.Second), p.o.Interval, r.Mode, len(r.Tracer.Programs),
		mib(r.Tracer.MapMemoryBytes), mib(r.Tracer.RSSBytes), p.state(r, final)), width, "", "  "))
	waits := busiestWaits(ls)
	rows := len(ls)
	if h := p.o.IO.TerminalHeight(); h > 0 && !final {
		rows = min(rows, max(3, h-6-histogramRows(waits)))
	}
	// A narrow terminal keeps what says whether a listener is in trouble:
	// its high water against the backlog, overflows, p99 wait, accept
	// errors, stalls and owner.
	t := tableprinter.For(p.buf, p.o.IO, header...).WrapColumn("PROCESSES").WrapAtLeast(16).
		DropColumns("NETNS", "SYNQ-HIGH", "ENQUEUED", "WAIT-P50", "WAIT-MAX", "ACCEPT-Q", "DROPS", "ACCEPTED",
			"OVF-COOKIE", "OVF-SYN*", "REFUSED", "STALLED", "OVF-ACK", "WAIT-P99").
		CutColumns("ADDRESS", "ACCEPT-ERRORS", "NETNS")
	for _, l := range ls[:rows] {
		t.AddRow(row(l)...)
	}
	if t.Len() == 0 {
		fmt.Fprintln(p.buf, "no traced listeners")
	} else if err := t.Render(); err != nil {
		return err
	}
	if more := len(ls) - rows; more > 0 {
		fmt.Fprintf(p.buf, "... and %d more listeners, with less happening (-o json, --port or --path for all)\n", more)
	}
	if waits != nil {
		w := waits.AcceptWait
		title := fmt.Sprintf("Accept waits at %s since %s: %d accepted, p99 %s, max %s",
			endpoint(*waits), r.Since.Local().Format(time.TimeOnly), w.Count, seconds(w.P99, w.Count), seconds(w.Max, w.Count))
		if err := cmdutil.WriteWaitHistogram(p.buf, width, title, w.Buckets); err != nil {
			return err
		}
	}
	refused := ""
	if slices.ContainsFunc(ls, func(l model.TraceReportListener) bool { return l.UnixConnects != nil }) {
		refused = "REFUSED: connect() calls a full Unix listener failed with EAGAIN. "
	}
	note := fmt.Sprintf("* derived (the kernel drops these SYNs without a reason); everything else is counted at the event. %sStalled: no accept() for %s with connections queued.", refused, p.o.Stall)
	if r.Mode == "queue" {
		note = fmt.Sprintf("* derived (the kernel drops these SYNs without a reason). Queue mode: accept() and connect() are not traced; ACCEPTED is the connections enqueued less those still queued, the waits are upper bounds (to the enqueue that found each taken), accept errors and Unix listeners' refused connects are not seen. Stalled: no accept() found for %s with connections queued.", p.o.Stall)
	}
	fmt.Fprint(p.buf, tableprinter.Paragraph(note, width, "", "  "))
	if len(r.UnattributedAcceptErrors) > 0 {
		fmt.Fprint(p.buf, tableprinter.Paragraph("accept() errors on unresolved listeners: "+errorsCell(r.UnattributedAcceptErrors), width, "", "  "))
	}
	return p.buf.Flush()
}

// state ends the view's first line: how long it traced at the end, how
// long is left before.
func (p *printer) state(r *model.TraceReport, final bool) string {
	switch {
	case final:
		return fmt.Sprintf("  (final: traced for %s)", r.Time.Sub(r.Since).Round(100*time.Millisecond))
	case !p.end.IsZero():
		return fmt.Sprintf("  (%s left; Ctrl-C: exit)", max(0, time.Until(p.end)).Round(time.Second))
	}
	return "  (Ctrl-C: exit)"
}

// busiestWaits is the listener whose accept waits the view draws: the one
// that accepted the most, nil when none accepted anything.
func busiestWaits(ls []model.TraceReportListener) *model.TraceReportListener {
	var best *model.TraceReportListener
	for i := range ls {
		if n := ls[i].AcceptWait.Count; n > 0 && (best == nil || n > best.AcceptWait.Count) {
			best = &ls[i]
		}
	}
	return best
}

// histogramRows is how many lines the accept-wait histogram of l takes.
func histogramRows(l *model.TraceReportListener) int {
	if l == nil {
		return 0
	}
	return cmdutil.WaitHistogramRows(l.AcceptWait.Buckets)
}

// endpoint is a listener's address:port, [::]:443 for IPv6, or a Unix
// listener's path.
func endpoint(l model.TraceReportListener) string {
	if l.Family == model.FamilyUnix {
		return l.Path
	}
	if strings.Contains(l.Address, ":") {
		return "[" + l.Address + "]:" + u(uint64(l.Port))
	}
	return l.Address + ":" + u(uint64(l.Port))
}

// sorted puts stalled listeners first, then the ones with the most
// overflows and drops, then the fullest, then by namespace and port.
func sorted(in []model.TraceReportListener) []model.TraceReportListener {
	ls := slices.Clone(in)
	trouble := func(l model.TraceReportListener) uint64 {
		n := l.Overflows.Total() + refused(l)
		for _, d := range l.Drops {
			n += d
		}
		for _, e := range l.AcceptErrors {
			n += e.Count
		}
		return n
	}
	slices.SortStableFunc(ls, func(a, b model.TraceReportListener) int {
		return cmp.Or(boolCmp(b.Stalled, a.Stalled), cmp.Compare(trouble(b), trouble(a)),
			cmp.Compare(fill(b), fill(a)), cmp.Compare(a.Netns, b.Netns), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Path, b.Path))
	})
	return ls
}

func fill(l model.TraceReportListener) float64 {
	return model.Fill(l.AcceptQueueHighWater, l.Backlog)
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func row(l model.TraceReportListener) []string {
	stalled := "-"
	if l.Stalled {
		stalled = strconv.FormatFloat(l.StalledSeconds, 'f', 1, 64) + "s"
	}
	netns := l.NetnsName
	if netns == "" {
		netns = strconv.FormatUint(l.Netns, 10)
	}
	enqueued := u(l.Enqueued)
	if l.Untraced {
		enqueued += " untraced"
	}
	address, port, refusedCell := l.Address, u(uint64(l.Port)), "-"
	if l.Family == model.FamilyUnix {
		address, port = (model.Listener{Family: l.Family, Path: l.Path, SocketType: l.SocketType}).Columns()
	}
	if l.UnixConnects != nil {
		refusedCell = u(l.ConnectEAGAIN)
	}
	return []string{netns, address, port, u(uint64(l.Backlog)), u(uint64(l.AcceptQueue)),
		u(uint64(l.AcceptQueueHighWater)), u(uint64(l.SynQueueHighWater)), enqueued, u(l.Accepted),
		u(l.Overflows.SynTime), u(l.Overflows.AckTime), u(l.Overflows.CookieAckTime), refusedCell, dropsCell(l.Drops),
		seconds(l.AcceptWait.P50, l.AcceptWait.Count), seconds(l.AcceptWait.P99, l.AcceptWait.Count),
		seconds(l.AcceptWait.Max, l.AcceptWait.Count), errorsCell(l.AcceptErrors), stalled, owners(l.Processes)}
}

// writeYAML writes one report of the stream as a YAML document (-o yaml).
func writeYAML(w io.Writer, v any) error {
	b, err := jsonfmt.Marshal(v)
	if err != nil {
		return err
	}
	return yamlfmt.WriteStream(w, b)
}

func u(v uint64) string { return strconv.FormatUint(v, 10) }

// refused is a Unix listener's connect() refusals, 0 for others.
func refused(l model.TraceReportListener) uint64 {
	if l.UnixConnects == nil {
		return 0
	}
	return l.ConnectEAGAIN
}

// seconds prints a wait with a unit, "-" when nothing was measured.
func seconds(s float64, count uint64) string {
	if count == 0 {
		return "-"
	}
	return time.Duration(s * float64(time.Second)).Round(time.Microsecond).String()
}

func dropsCell(drops map[string]uint64) string {
	if len(drops) == 0 {
		return "-"
	}
	names := make([]string, 0, len(drops))
	for name := range drops {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(drops[b], drops[a]), cmp.Compare(a, b)) })
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = fmt.Sprintf("%s=%d", name, drops[name])
	}
	return strings.Join(parts, ",")
}

func errorsCell(es []model.AcceptErrors) string {
	if len(es) == 0 {
		return "-"
	}
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = fmt.Sprintf("%s=%d[%d]", e.Errno, e.Count, e.PID)
	}
	return strings.Join(parts, ",")
}

func owners(ps []model.TracedOwner) string {
	if len(ps) == 0 {
		return "-"
	}
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("%s[%d]", p.Comm, p.PID)
		if p.State != "" && !strings.HasPrefix(p.State, "S ") && !strings.HasPrefix(p.State, "R ") {
			parts[i] += ":" + p.State
		}
	}
	return strings.Join(parts, ",")
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// renderProbe prints --check's findings.
func renderProbe(o *Options, p *model.TraceProbe) error {
	if p == nil {
		return nil
	}
	if o.Output == "json" {
		return cmdutil.PrintData(o.IO, p)
	}
	w := o.IO.Out
	t := tableprinter.For(w, o.IO, "CHECK", "RESULT", "DETAIL").WrapColumn("DETAIL")
	t.AddRow("btf", yes(p.BTF), "/sys/kernel/btf/vmlinux")
	t.AddRow("load", yes(p.Loaded), cmp.Or(p.Error, "the verifier accepted every program (CAP_BPF, CAP_PERFMON)"))
	for _, h := range p.Hooks {
		t.AddRow(h.Tracepoint, yes(h.Attached), cmp.Or(h.Error, h.Program))
	}
	if p.AcceptFallback != "" {
		t.AddRow("accept-hook", "raw", "tp_btf/sys_exit, run at every system call: "+p.AcceptFallback)
	} else if p.BTF && p.Loaded {
		t.AddRow("accept-hook", "syscall", "syscalls:sys_exit_accept4 and sys_exit_accept, run only for accepts")
	}
	if p.AcceptFallback != "" {
		t.AddRow("connect-hook", "raw", "tp_btf/sys_exit: Unix listeners' refused connects are seen, blocking connects that slept are not")
	} else if p.BTF && p.Loaded {
		t.AddRow("connect-hook", "syscall", "syscalls:sys_exit_connect, run only for connects: Unix listeners' refused connects; sys_enter_connect once a Unix listener is seen full: blocked connects (it adds ~5 ns to every system call)")
	}
	reason := "absent: ACK-time overflows are not seen"
	if p.ListenOverflowReason >= 0 {
		reason = fmt.Sprintf("SKB_DROP_REASON_TCP_LISTEN_OVERFLOW = %d (from BTF)", p.ListenOverflowReason)
	}
	t.AddRow("drop-reasons", yes(p.ListenOverflowReason >= 0), reason)
	if err := t.Render(); err != nil {
		return err
	}
	width := o.IO.TerminalWidth()
	_, err := fmt.Fprint(w, tableprinter.Paragraph(strings.Join(model.ExactFields, ", "), width, "exact: ", "  "),
		tableprinter.Paragraph(strings.Join(model.DerivedFields, ", "), width, "derived: ", "  "))
	return err
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}
