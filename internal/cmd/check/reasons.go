package check

import (
	"strings"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/check"
	"github.com/backlogctl/backlogctl/model"
)

// adviseReasons explains a failure with the matching advise finding's reason
// when there is one, and with check's own kernel fact otherwise. Over an
// --observe window advise's counter findings would speak of totals since
// boot, not of the window, so only the kernel facts are used there.
func adviseReasons(obs *model.Observation) check.Reasoner {
	if obs.Window != nil || obs.Snapshot == nil {
		return check.KernelReasons{}
	}
	in := advise.Input{Now: model.Sample{Snapshot: obs.Snapshot}, ChildNetns: obs.ChildNetns, NetnsUnknown: obs.NetnsUnknown}
	findings := advise.Advise(in)
	return check.LookupReasons{Lookup: func(target string) (string, bool) {
		if _, counter := obs.Snapshot.Counters[target]; counter {
			// A counter's total is history; check's own way to judge a
			// change is --observe, not advise's --interval.
			return "", false
		}
		if m := advise.FindingsFor(findings, target); len(m) > 0 {
			return strings.ReplaceAll(m[0].Reason, "run with --interval", "run check with --observe 60s"), true
		}
		return "", false
	}}
}
