package advise

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/backlogctl/backlogctl/sysctl/registry"
)

// PlanFindings returns the sysctl changes that findings recommend, one per
// key, for tune. Only warning and critical findings with a Key and a
// Recommended value count: info findings (totals since boot, sizing notes)
// never change the host. Where several findings name one key the highest
// target wins; a size is never planned below the host's current value,
// while a mode key (tcp_syncookies, tcp_abort_on_overflow) is set as
// recommended. A key not visible here (Current nil) is still planned, for
// tune to refuse or skip.
func PlanFindings(findings []Finding) Plan {
	byKey := map[string]*Change{}
	why := map[string][]string{}
	for _, f := range findings {
		if f.Severity.Rank() < Warning.Rank() || f.Key == "" || f.Recommended == nil {
			continue
		}
		target := *f.Recommended
		if f.Current != nil && target == *f.Current {
			continue
		}
		// A finding may recommend a lower mode (tcp_syncookies 2 -> 1).
		if !ModeKey(f.Key) && f.Current != nil && target < *f.Current {
			continue
		}
		c, ok := byKey[f.Key]
		if !ok {
			k, _ := registry.Lookup(f.Key)
			c = &Change{Key: f.Key, Current: f.Current, Target: target, Scope: k.Scope}
			byKey[f.Key] = c
		}
		if target > c.Target {
			c.Target = target
		}
		if !slices.Contains(why[f.Key], f.ID) {
			why[f.Key] = append(why[f.Key], f.ID)
		}
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var plan Plan
	for _, k := range keys {
		c := byKey[k]
		c.Reason = fmt.Sprintf("advise: %s", strings.Join(why[k], ", "))
		plan.Changes = append(plan.Changes, *c)
	}
	return plan
}
