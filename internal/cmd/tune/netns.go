package tune

import (
	"fmt"
	"slices"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/nsflag"
	"github.com/backlogctl/backlogctl/sysctl"
)

// checkNamespaces refuses --all-netns: tune writes, records and rolls back
// one network namespace's values, so a run names the one it changes.
func checkNamespaces(f nsflag.Flags) error {
	if err := f.Validate(); err != nil {
		return err
	}
	if f.All {
		return cmdutil.UsageErrorf("tune plans and writes one network namespace at a time: --all-netns is refused (give --netns NAME for each)")
	}
	return nil
}

// checkSetScopes refuses, with --netns, a --set of a key that is not per
// network namespace, before the run inside it starts: a global key has one
// value for the host, which no namespace can change for itself.
func checkSetScopes(sets []sysctl.Setting, hostNetns bool) error {
	for _, s := range sets {
		if err := sysctl.CheckNetnsScope(s.Key, hostNetns); err != nil {
			return cmdutil.UsageErrorf("invalid --set: %v", err)
		}
	}
	return nil
}

// netnsOnly, in the run nsflag.RunInside started inside the --netns
// namespace, keeps only the changes to that namespace's own keys: a --set of
// another is refused, a profile's or a finding's is left out with a warning.
func netnsOnly(o *Options, plan advise.Plan) (advise.Plan, []string, error) {
	if _, inside := nsflag.Inside(); !inside {
		return plan, nil, nil
	}
	host := sysctl.NewFS(o.Roots.Sys).InitNetns()
	if err := checkSetScopes(o.sets, host); err != nil {
		return plan, nil, err
	}
	var warnings []string
	kept := slices.DeleteFunc(slices.Clone(plan.Changes), func(c advise.Change) bool {
		if err := sysctl.CheckNetnsScope(c.Key, host); err != nil {
			warnings = append(warnings, fmt.Sprintf("left out %s: %v", c.Key, err))
			return true
		}
		return false
	})
	plan.Changes = kept
	return plan, warnings, nil
}
