package tune

import (
	"strings"
	"testing"

	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/trace"
)

// --trace where the kernel refuses tracing: one warning line, and the plan
// still comes from the snapshot (nothing to change in a fresh namespace).
func TestTraceRefusedPlansFromSnapshot(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	ios, _, _, stderr := iostreams.Test()
	o := &Options{IO: ios, Trace: 1, Collect: func(co collect.Options, so collect.SampleOptions) ([]*model.Samples, []string, error) {
		co.OpenTrace = func(trace.Options) (trace.Source, error) { return nil, trace.ErrNoPermission }
		return collect.Samples(co, so)
	}}
	plan, err := planFromFindings(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(stderr.String(), "\n"); lines != 1 || !strings.Contains(stderr.String(), "eBPF tracing unavailable") {
		t.Errorf("stderr %q, want one line saying tracing is unavailable", stderr)
	}
	if len(plan.Changes) != 0 {
		t.Errorf("plan %+v, want nothing to change in a fresh namespace", plan.Changes)
	}
}
