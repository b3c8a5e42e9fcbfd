package advise

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/trace/tracetest"
)

// tracedOptions trace for d, running load once the programs are attached.
func tracedOptions(port uint16, d time.Duration, load func()) *Options {
	o := realOptions(port)
	o.Trace, o.TraceSet = d, true
	o.Collect = func(co collect.Options, so collect.SampleOptions) ([]*model.Samples, []string, error) {
		so.Ready = func() { go load() }
		return collect.Samples(co, so)
	}
	return o
}

// nginx workers limited to 16 descriptors under wrk's 64 connections: advise cites
// the EMFILE count per worker, critical, and sizes from the measured rate.
// Workers at their limit take a queued connection only once they have
// closed an idle one, so on a busy machine a second can pass without an
// accept -- a stall by advise's rule, which rightly measures no wait then.
// Stalls are not what this test is about (TestAdviseTracedStallWithNginx
// is): its window calls one only after a minute.
func TestAdviseTracedEMFILEWithNginx(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	tracetest.Require(t)
	ng := nstest.StartNginx(t, nstest.NginxOpts{Workers: 2, Extra: "worker_rlimit_nofile 16;"})
	port := ng.Addr.Port()
	url := fmt.Sprintf("http://%s/", ng.Addr)
	o := tracedOptions(port, 3*time.Second, func() { nstest.Wrk(t, url, 64, 2*time.Second) })
	samples := o.Collect
	o.Collect = func(co collect.Options, so collect.SampleOptions) ([]*model.Samples, []string, error) {
		co.Stall = time.Minute
		return samples(co, so)
	}
	r := runJSON(t, o)
	if r.Trace == nil || len(r.Trace.Listeners) != 1 {
		t.Fatalf("trace evidence: %+v, want the one nginx listener", r.Trace)
	}
	var emfile []advise.Finding
	for _, f := range r.Findings {
		if f.ID == "traced-accept-errors" && strings.Contains(f.Reason, " got EMFILE ") {
			emfile = append(emfile, f)
		}
	}
	if len(emfile) == 0 {
		t.Fatalf("no traced EMFILE finding in %v", ids(r))
	}
	for _, f := range emfile {
		if f.Severity != advise.Critical || !strings.HasPrefix(f.Reason, "nginx[") || f.Evidence["count"] < 1 ||
			!strings.Contains(f.Reason, "descriptor limit") || f.Listener != fmt.Sprintf("127.0.0.1:%d", port) {
			t.Errorf("EMFILE finding %+v", f)
		}
	}
	if r.Sizing == nil || len(r.Sizing.Measured) != 2 || r.Sizing.Rate <= 0 {
		t.Errorf("sizing %+v, want rate and accept latency measured; traced %+v", r.Sizing, r.Trace)
	}
	if r.IntervalSeconds != 3 {
		t.Errorf("counters judged over %vs, want the traced window's 3s", r.IntervalSeconds)
	}
}

// nginx stopped with SIGSTOP, backlog 4, 20 clients: advise cites the exact
// high water (5 of 5) with its time and overflows, and the stall with the
// owners' state.
func TestAdviseTracedStallWithNginx(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	tracetest.Require(t)
	ng := nstest.StartNginx(t, nstest.NginxOpts{Backlog: 4, Workers: 2})
	ng.Signal(t, syscall.SIGSTOP)
	addr := ng.Addr
	r := runJSON(t, tracedOptions(addr.Port(), 2500*time.Millisecond, func() {
		for range 20 {
			nstest.Connect(t, addr)
		}
	}))
	subject := addr.String()
	// One verdict: the stall, with the overflow and the sampled
	// not-accepting finding folded into it.
	if fs := advise.FindingsFor(r.Findings, subject); len(fs) != 1 {
		t.Fatalf("findings about %s: %v, want one verdict", subject, fs)
	}
	s, ok := advise.FindingByID(r.Findings, "traced-stall", subject)
	if !ok {
		t.Fatalf("no traced-stall for %s in %v", subject, ids(r))
	}
	if s.Severity != advise.Critical || !strings.Contains(s.Reason, "nginx[") || !strings.Contains(s.Reason, "with 5 waiting (state during the stall: T (stopped)") {
		t.Errorf("stall finding %+v", s)
	}
	if !strings.Contains(s.Reason, "The queue was full: it reached 5 of 5 (backlog+1)") || !strings.Contains(s.Reason, " overflows (") ||
		!slices.Contains(s.Folded, "traced-queue-overflow") || !slices.Contains(s.Folded, "listener-not-accepting") {
		t.Errorf("stall verdict %+v does not cite the overflow folded into it", s)
	}
	// The queue overflowed because nobody accepted: no bigger backlog, and no
	// Little's-law sizing from waits that only measure the stop.
	if s.Recommended != nil || !strings.Contains(s.Fix, "kill -CONT") {
		t.Errorf("a stopped owner's verdict recommends %v, fix %q", s.Recommended, s.Fix)
	}
	if z, ok := advise.FindingByID(r.Findings, "backlog-sizing", ""); ok {
		t.Errorf("sizing from a stalled listener: %+v", z)
	}
}
