package metrics

import (
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/backlogctl/backlogctl/model"
)

var (
	descAcceptWait = desc("listener_accept_wait_seconds",
		"Time connections waited in the accept queue, from entering it to accept() returning (eBPF, exporter --trace), since tracing started. Classic buckets are exact at their bounds (powers of two in nanoseconds); the native histogram's buckets (schema 0) are those log2-nanosecond buckets with bounds 7.4% low (2^30 ns taken as 1 s).",
		listenerLabels...)
	descTracedOverflows = desc("listener_traced_overflows_total",
		"Connections dropped because the accept queue was full, seen by tracing since it started, by site: ack_time (a request socket's final ACK; exact), cookie_ack_time (an ACK carrying a SYN cookie; exact) or syn_time (derived from the counters). The sites sum to the namespace's TcpExtListenOverflows.",
		append(slices.Clone(listenerLabels), "site")...)
	descTracedDrops = desc("listener_traced_drops_total",
		"Drops at the listener seen by tracing since it started, by kernel drop reason (skb_drop_reason without its prefix; TCP_DEFER_ACCEPT for defer-accept drops).",
		append(slices.Clone(listenerLabels), "reason")...)
	descHighWaterFill = desc("listener_accept_queue_high_water_fill",
		"Longest the accept queue was since the previous scrape, over backlog+1 (what a full queue holds): 1 means it was full at some point in between. Exact: each scrape closes an interval in the eBPF programs (exporter --trace), so with several scrapers each sees the peak since any scraper's previous scrape.",
		listenerLabels...)
	descOldestQueued = desc("listener_accept_queue_oldest_wait_seconds",
		"How long the oldest connection still in the accept queue had waited at the scrape (0 with the queue empty): a stall in progress, which the accept-wait histogram counts only once accept() ends it. From its enqueue time as the eBPF programs recorded it (exporter --trace); for a connection queued before tracing began, at least the time since then.",
		listenerLabels...)
	descAcceptErrors = desc("process_accept_errors_total",
		"Failed accept()/accept4() calls of a process, by errno (EMFILE, ENFILE, ENOBUFS, ENOMEM...), seen by tracing since it started; with the Kubernetes pod, namespace and container of a process that owns a listener there.",
		"netns", "pid", "process", "errno", "pod", "namespace", "container")
	descTraceUp = desc("trace_up",
		"1 when exporter --trace has its eBPF programs attached, 0 when tracing was asked for and the kernel refused it.")
	descTraceUntracedEvents = desc("trace_untraced_events_total",
		"Events of listeners that found the eBPF listener table full (exporter --trace), not counted in their traced metrics; raise --trace-listeners.")
	descTraceMode = desc("trace_mode",
		"1, labelled with what exporter --trace's eBPF programs trace: queue (the queue's side only; accepts inferred, waits bounded, no accept() errors) or full (accept() and io_uring accepts too).",
		"mode")
	descConnectEAGAIN = desc("listener_connect_eagain_total",
		"connect() calls a Unix listener refused with EAGAIN because its queue was full (nginx's \"connect() to unix:... failed (11: Resource temporarily unavailable)\"), which no kernel counter keeps; seen by tracing in full mode (exporter --trace) since it started, exact.",
		listenerLabels...)
	descConnectBlocked = desc("listener_connect_blocked_total",
		"Blocking connect() calls to a Unix listener that waited for room in its full queue, seen by tracing in full mode (exporter --trace) since it started.",
		listenerLabels...)
	descListenerUntraced = desc("listener_traced_untraced",
		"1 when a socket of this listener found the eBPF listener table full: its traced metrics miss events (exporter --trace).",
		listenerLabels...)
)

// classicWaitBounds are the classic buckets' upper bounds, as log2 bucket
// indexes: bucket i ends at 2^(i+1) ns, so every other one from ~1µs to ~69s.
var classicWaitBounds = []int{9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31, 33, 35}

// tracedSource exports the listeners' eBPF evidence on their series, and
// the processes' accept() errors.
type tracedSource struct {
	// traced: the snapshots are traced; refused: tracing was asked for and
	// the kernel refused it.
	traced, refused bool
}

func (tracedSource) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAcceptWait, descTracedOverflows, descTracedDrops, descHighWaterFill, descOldestQueued, descAcceptErrors, descTraceUp,
		descTraceUntracedEvents, descTraceMode, descListenerUntraced, descConnectEAGAIN, descConnectBlocked} {
		ch <- d
	}
}

func (t tracedSource) collect(ch chan<- prometheus.Metric, s *scrape) {
	switch {
	case t.traced:
		ch <- gauge(descTraceUp, boolFloat(s.m.Trace != nil))
	case t.refused:
		ch <- gauge(descTraceUp, 0)
	}
	if !t.traced || s.m.Trace == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(descTraceUntracedEvents, prometheus.CounterValue, float64(s.m.Trace.Tracer.UntracedEvents))
	if s.m.Trace.Mode != "" {
		ch <- gauge(descTraceMode, 1, s.m.Trace.Mode)
	}
	full := s.m.Trace.Mode != "queue"
	for _, nr := range s.rows {
		collectAcceptErrors(ch, nr.ns)
		for i := range nr.rows {
			r := &nr.rows[i]
			t := tracedRowOf(r)
			collectTraced(ch, t, r.labels())
			if full && t.unix {
				collectUnixConnects(ch, t, r.labels())
			}
		}
	}
}

// tracedRow sums the traced evidence of a row's sockets.
type tracedRow struct {
	seen bool
	// untraced: a socket found the programs' listener table full.
	untraced  bool
	wait      model.WaitHistogram
	overflows model.Overflows
	drops     map[string]uint64
	// intervalFill is the fullest socket's longest queue since the
	// previous scrape, over its backlog+1.
	intervalFill float64
	// oldestQueued is the longest wait of a connection still queued in
	// any of the sockets, in seconds.
	oldestQueued float64
	// unix: the row's sockets are Unix listeners, with their refused and
	// blocked connects.
	unix                   bool
	connectEAGAIN, blocked uint64
}

// tracedRowOf sums the evidence behind r.
func tracedRowOf(r *row) tracedRow {
	var out tracedRow
	for _, l := range r.listeners {
		t := l.Traced
		if t == nil {
			continue
		}
		out.seen = true
		out.untraced = out.untraced || t.Untraced
		out.wait.Add(&t.AcceptWait)
		out.overflows.SynTime += t.Overflows.SynTime
		out.overflows.AckTime += t.Overflows.AckTime
		out.overflows.CookieAckTime += t.Overflows.CookieAckTime
		for reason, n := range t.Drops {
			if out.drops == nil {
				out.drops = map[string]uint64{}
			}
			out.drops[reason] += n
		}
		out.intervalFill = max(out.intervalFill, t.IntervalFill(l.AcceptQueueMax))
		out.oldestQueued = max(out.oldestQueued, t.OldestQueued.Seconds())
		out.unix = out.unix || l.IsUnix()
		out.connectEAGAIN += t.ConnectEAGAIN
		out.blocked += t.ConnectBlocked.Count
	}
	return out
}

// collectUnixConnects sends a Unix listener row's refused and blocked
// connects.
func collectUnixConnects(ch chan<- prometheus.Metric, t tracedRow, lv []string) {
	if !t.seen {
		return
	}
	ch <- prometheus.MustNewConstMetric(descConnectEAGAIN, prometheus.CounterValue, float64(t.connectEAGAIN), lv...)
	ch <- prometheus.MustNewConstMetric(descConnectBlocked, prometheus.CounterValue, float64(t.blocked), lv...)
}

// collectTraced sends a row's traced metrics.
func collectTraced(ch chan<- prometheus.Metric, t tracedRow, lv []string) {
	if !t.seen {
		return
	}
	ch <- newWaitHistogram(&t.wait, lv)
	ch <- prometheus.MustNewConstMetric(descTracedOverflows, prometheus.CounterValue, float64(t.overflows.AckTime), append(slices.Clone(lv), "ack_time")...)
	ch <- prometheus.MustNewConstMetric(descTracedOverflows, prometheus.CounterValue, float64(t.overflows.CookieAckTime), append(slices.Clone(lv), "cookie_ack_time")...)
	ch <- prometheus.MustNewConstMetric(descTracedOverflows, prometheus.CounterValue, float64(t.overflows.SynTime), append(slices.Clone(lv), "syn_time")...)
	for _, reason := range sortedKeys(t.drops) {
		ch <- prometheus.MustNewConstMetric(descTracedDrops, prometheus.CounterValue, float64(t.drops[reason]), append(slices.Clone(lv), reason)...)
	}
	ch <- gauge(descHighWaterFill, t.intervalFill, lv...)
	ch <- gauge(descOldestQueued, t.oldestQueued, lv...)
	ch <- gauge(descListenerUntraced, boolFloat(t.untraced), lv...)
}

// collectAcceptErrors sends the accept errors seen in one namespace: its
// listeners' and those whose listener could not be resolved, summed by
// process and errno.
func collectAcceptErrors(ch chan<- prometheus.Metric, ns model.NamespaceSnapshot) {
	type key struct {
		pid         int
		comm, errno string
	}
	sums := map[key]uint64{}
	var order []key
	add := func(es []model.AcceptErrors) {
		for _, e := range es {
			k := key{e.PID, e.Comm, e.Errno}
			if _, ok := sums[k]; !ok {
				order = append(order, k)
			}
			sums[k] += e.Count
		}
	}
	for _, l := range ns.Listeners {
		if l.Traced != nil {
			add(l.Traced.AcceptErrors)
		}
	}
	add(ns.UnattributedAcceptErrors)
	// A count is a process's own (a sum over processes would fall when one
	// exits, which Prometheus takes for a reset), so pid stays; its pod is
	// its owner's, where it owns a listener.
	workloads := map[int]model.Workload{}
	for _, l := range ns.Listeners {
		for _, p := range l.Processes {
			workloads[p.PID] = p.Workload
		}
	}
	label := ns.Netns.Label()
	for _, k := range order {
		w := workloads[k.pid]
		ch <- prometheus.MustNewConstMetric(descAcceptErrors, prometheus.CounterValue, float64(sums[k]),
			label, strconv.Itoa(k.pid), k.comm, k.errno, w.Pod, w.Namespace, w.Container)
	}
}

// waitHistogram is a histogram with both classic buckets and, for a scraper
// that negotiates protobuf, native (schema 0) buckets.
type waitHistogram struct {
	labels []*dto.LabelPair
	h      *dto.Histogram
}

// nativeIndexOffset maps log2-nanosecond bucket i, [2^i, 2^(i+1)) ns, to
// schema-0 bucket k = i-29, which covers (2^(i-30), 2^(i-29)] s: the same
// bucket scaled by 2^30/1e9, so its bounds are 7.4% low.
const nativeIndexOffset = 29

func newWaitHistogram(w *model.WaitHistogram, lv []string) prometheus.Metric {
	// The zero bucket's width is client_golang's default, 2^-128 s: no wait
	// is that short (the programs count whole nanoseconds), and a non-zero
	// width is what marks a histogram without observations as native for
	// early native-histogram Prometheus servers such as 2.42 (later ones
	// also read the empty span, below). 2.42 takes a whole family as
	// classic when its first series looks classic, so one idle listener
	// sorted first hid every listener's native histogram.
	h := &dto.Histogram{SampleCount: proto.Uint64(w.Count), SampleSum: proto.Float64(w.Sum()),
		Schema: proto.Int32(0), ZeroThreshold: proto.Float64(prometheus.DefNativeHistogramZeroThreshold), ZeroCount: proto.Uint64(0)}
	var cum uint64
	next := 0
	for _, b := range classicWaitBounds {
		for ; next <= b && next < len(w.Buckets); next++ {
			cum += w.Buckets[next]
		}
		h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: proto.Float64(model.WaitBucketLE(b)), CumulativeCount: proto.Uint64(cum)})
	}
	// Native buckets: spans of consecutive indexes, deltas between counts.
	var prevIndex int
	var prevCount int64
	for i, n := range w.Buckets {
		if n == 0 {
			continue
		}
		k := i - nativeIndexOffset
		switch {
		case len(h.PositiveSpan) == 0:
			h.PositiveSpan = append(h.PositiveSpan, &dto.BucketSpan{Offset: proto.Int32(int32(k)), Length: proto.Uint32(0)})
		case k != prevIndex+1:
			h.PositiveSpan = append(h.PositiveSpan, &dto.BucketSpan{Offset: proto.Int32(int32(k - prevIndex - 1)), Length: proto.Uint32(0)})
		}
		span := h.PositiveSpan[len(h.PositiveSpan)-1]
		*span.Length++
		h.PositiveDelta = append(h.PositiveDelta, int64(n)-prevCount)
		prevIndex, prevCount = k, int64(n)
	}
	if len(h.PositiveSpan) == 0 {
		// An empty native histogram still needs a span to be told from a classic one.
		h.PositiveSpan = []*dto.BucketSpan{{Offset: proto.Int32(0), Length: proto.Uint32(0)}}
	}
	return &waitHistogram{labels: prometheus.MakeLabelPairs(descAcceptWait, lv), h: h}
}

func (w *waitHistogram) Desc() *prometheus.Desc { return descAcceptWait }

func (w *waitHistogram) Write(m *dto.Metric) error {
	m.Label, m.Histogram = w.labels, w.h
	return nil
}
