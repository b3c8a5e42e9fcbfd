package check

import (
	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/check"
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/changes"
)

// adviseReasons explains a failure with the matching advise finding's reason
// when there is one, and with check's own kernel fact otherwise; roots are
// where it reads which network namespace it runs in. Over an
// --observe window advise's counter findings would speak of totals since
// boot, not of the window, so only the kernel facts are used there.
func adviseReasons(roots hostfs.Roots, obs *check.Observation) check.Reasoner {
	if obs.Window != nil || obs.Snapshot == nil {
		return check.KernelReasons{}
	}
	in := advise.Input{Now: advise.Sample{Snapshot: obs.Snapshot}}
	var known bool
	in.ChildNetns, known = changes.ChildNetns(roots, obs.Snapshot.Sysctls)
	in.NetnsUnknown = !known
	findings := advise.Advise(in)
	return check.LookupReasons{Lookup: func(target string) (string, bool) {
		if m := advise.FindingsFor(findings, target); len(m) > 0 {
			return m[0].Reason, true
		}
		return "", false
	}}
}
