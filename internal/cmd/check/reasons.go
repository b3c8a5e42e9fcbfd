package check

import (
	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/check"
)

// adviseReasons explains a failure with the matching advise finding's reason
// when there is one, and with check's own kernel fact otherwise. Over an
// --observe window advise's counter findings would speak of totals since
// boot, not of the window, so only the kernel facts are used there.
func adviseReasons(obs *check.Observation) check.Reasoner {
	if obs.Window != nil || obs.Snapshot == nil {
		return check.KernelReasons{}
	}
	findings := advise.Advise(advise.Input{Now: advise.Sample{Snapshot: obs.Snapshot}})
	return check.LookupReasons{Lookup: func(target string) (string, bool) {
		if m := advise.FindingsFor(findings, target); len(m) > 0 {
			return m[0].Reason, true
		}
		return "", false
	}}
}
