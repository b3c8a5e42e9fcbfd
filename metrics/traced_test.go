package metrics

import (
	"math"
	"testing"

	"github.com/backlogctl/backlogctl/model"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
)

// tracedFixture gives the fixture's listeners cookies and traced evidence:
// the REUSEPORT pair (cookies 1, 2) waited 3 times in [2^20, 2^21) ns and
// once in [2^30, 2^31) ns; nginx got EMFILE; the others saw nothing.
func tracedFixture() *model.MultiSnapshot {
	m := fixture()
	ls := m.Namespaces[0].Listeners
	for i := range ls {
		ls[i].Cookie = uint64(i + 1)
		ls[i].Traced = &model.Traced{Drops: map[string]uint64{}}
	}
	ls[0].Traced = &model.Traced{IntervalHighWater: 512, Overflows: model.Overflows{AckTime: 3, SynTime: 4},
		Drops: map[string]uint64{"TCP_LISTEN_OVERFLOW": 3}, AcceptWait: model.WaitHistogram{Count: 2, SumNs: 2e6},
		AcceptErrors: []model.AcceptErrors{{PID: 42, Comm: "nginx", Errno: "EMFILE", Count: 21}}}
	ls[0].Traced.AcceptWait.Buckets[20] = 2
	ls[1].Traced = &model.Traced{IntervalHighWater: 100, AcceptWait: model.WaitHistogram{Count: 2, SumNs: 1.5e9}}
	ls[1].Traced.AcceptWait.Buckets[20], ls[1].Traced.AcceptWait.Buckets[30] = 1, 1
	m.Trace = &model.TraceInfo{}
	return m
}

func gatherTraced(t *testing.T, m *model.MultiSnapshot, max int) map[string]*dto.MetricFamily {
	t.Helper()
	reg, err := NewRegistry(&Collector{Source: func() (*model.MultiSnapshot, error) { return m, nil }, MaxListeners: max, Traced: true})
	if err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

func TestTracedMetrics(t *testing.T) {
	fams := gatherTraced(t, tracedFixture(), 1000)
	hist := fams["backlogctl_listener_accept_wait_seconds"]
	if hist == nil || len(hist.Metric) != 3 {
		t.Fatalf("accept wait histogram: %v, want three series (the pair summed, and the others)", hist)
	}
	var h *dto.Histogram
	for _, s := range hist.Metric {
		if s.GetHistogram().GetSampleCount() > 0 {
			h = s.GetHistogram()
		}
	}
	if h.GetSampleCount() != 4 || h.GetSampleSum() != 1.502 {
		t.Errorf("count %d sum %v, want 4 and 1.502", h.GetSampleCount(), h.GetSampleSum())
	}
	cum := map[float64]uint64{}
	for _, b := range h.Bucket {
		cum[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	// 2^20 ns waits are below the 2^22 ns bound; the 2^30 ns one below 2^32.
	for _, want := range []struct {
		le float64
		n  uint64
	}{{math.Ldexp(1, 20) / 1e9, 0}, {math.Ldexp(1, 22) / 1e9, 3}, {math.Ldexp(1, 30) / 1e9, 3}, {math.Ldexp(1, 32) / 1e9, 4}} {
		if got, ok := cum[want.le]; !ok || got != want.n {
			t.Errorf("bucket le=%g: %d (present %v), want %d", want.le, got, ok, want.n)
		}
	}
	// Native: index 20-29 = -9 holds 3, index 1 holds 1.
	spans := []int32{}
	for _, s := range h.PositiveSpan {
		spans = append(spans, s.GetOffset(), int32(s.GetLength()))
	}
	if diff := cmp.Diff([]int32{-9, 1, 9, 1}, spans); diff != "" {
		t.Errorf("native spans (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff([]int64{3, -2}, h.PositiveDelta); diff != "" {
		t.Errorf("native deltas (-want +got)\n%s", diff)
	}
	site := map[string]float64{}
	for _, s := range fams["backlogctl_listener_traced_overflows_total"].Metric {
		site[label(s, "site")] += s.GetCounter().GetValue()
	}
	if site["ack_time"] != 3 || site["syn_time"] != 4 {
		t.Errorf("overflows by site %v", site)
	}
	fill := 0.0
	for _, s := range fams["backlogctl_listener_accept_queue_high_water_fill"].Metric {
		fill = max(fill, s.GetGauge().GetValue())
	}
	if fill != 1 {
		t.Errorf("high water fill %v, want 1 (512 of 511+1)", fill)
	}
	e := fams["backlogctl_process_accept_errors_total"].Metric[0]
	if label(e, "errno") != "EMFILE" || label(e, "process") != "nginx" || label(e, "pid") != "42" || e.GetCounter().GetValue() != 21 {
		t.Errorf("accept errors %v", e)
	}
	if up := fams["backlogctl_trace_up"].Metric[0].GetGauge().GetValue(); up != 1 {
		t.Errorf("trace_up %v", up)
	}
}

// A process's accept errors keep its pid (a count is its own) and carry
// the pod of the listener it owns.
func TestAcceptErrorsInPod(t *testing.T) {
	m := tracedFixture()
	ls := m.Namespaces[0].Listeners
	for i := range ls {
		for j := range ls[i].Processes {
			ls[i].Processes[j].Workload = model.Workload{Pod: "web", Namespace: "shop", Container: "nginx"}
		}
	}
	e := gatherTraced(t, m, 1000)["backlogctl_process_accept_errors_total"].Metric[0]
	if label(e, "pid") != "42" || label(e, "pod") != "web" || label(e, "namespace") != "shop" || label(e, "container") != "nginx" {
		t.Errorf("accept errors %v, want pid 42 in shop/web/nginx", e)
	}
}

// Under the cardinality guard the traced series are summed per port too.
func TestTracedMetricsUnderGuard(t *testing.T) {
	fams := gatherTraced(t, tracedFixture(), 1)
	hist := fams["backlogctl_listener_accept_wait_seconds"]
	if hist == nil || len(hist.Metric) != 1 || label(hist.Metric[0], "address") != "*" || hist.Metric[0].GetHistogram().GetSampleCount() != 4 {
		t.Errorf("guarded histogram %v, want one port-80 series of 4", hist)
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// A listener with no accept waits yet still exposes a histogram Prometheus
// takes as native, by every rule it has used: a zero bucket of non-zero
// width (2.42 and other early versions, which also decide a whole family
// from its first series) and a span (later ones).
func TestEmptyWaitHistogramIsNative(t *testing.T) {
	var m dto.Metric
	if err := newWaitHistogram(&model.WaitHistogram{}, []string{"netns", "127.0.0.1", "1", "", "", "", "", ""}).Write(&m); err != nil {
		t.Fatal(err)
	}
	h := m.GetHistogram()
	if h.GetZeroThreshold() <= 0 || h.GetZeroThreshold() > 1e-9 || len(h.PositiveSpan) == 0 || h.GetSampleCount() != 0 {
		t.Errorf("empty histogram: zero threshold %g, spans %v, count %d; want a threshold in (0, 1ns], a span, no samples",
			h.GetZeroThreshold(), h.PositiveSpan, h.GetSampleCount())
	}
}

// A Unix listener's refused and blocked connects are counters labelled with
// its path, in full mode; TCP listeners have none, and queue mode none.
func TestUnixConnectMetrics(t *testing.T) {
	m := tracedFixture()
	m.Namespaces[0].Listeners = append(m.Namespaces[0].Listeners, model.Listener{Family: "unix", Path: "/run/php/php-fpm.sock",
		SocketType: "stream", AcceptQueueMax: 8, Inode: 99, Cookie: 99, Processes: []model.Process{},
		Traced: &model.Traced{Drops: map[string]uint64{}, UnixTraced: model.UnixTraced{ConnectEAGAIN: 57,
			ConnectBlocked: model.ConnectWait{Count: 3}}}})
	m.Trace.Mode = "full"
	fams := gatherTraced(t, m, 1000)
	for name, want := range map[string]float64{"backlogctl_listener_connect_eagain_total": 57, "backlogctl_listener_connect_blocked_total": 3} {
		f := fams[name]
		if f == nil || len(f.Metric) != 1 {
			t.Fatalf("%s: %v, want one series, the Unix listener's", name, f)
		}
		labels := map[string]string{}
		for _, l := range f.Metric[0].Label {
			labels[l.GetName()] = l.GetValue()
		}
		if got := f.Metric[0].GetCounter().GetValue(); got != want || labels["path"] != "/run/php/php-fpm.sock" || labels["port"] != "" {
			t.Errorf("%s = %v %v, want %v with the path label", name, got, labels, want)
		}
	}
	m.Trace.Mode = "queue"
	if f := gatherTraced(t, m, 1000)["backlogctl_listener_connect_eagain_total"]; f != nil {
		t.Errorf("queue mode exports refusals it cannot see: %v", f)
	}
}
