package check

import (
	"testing"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/model"
)

func adviseProfile() advise.Profile {
	p, err := advise.LookupProfile("default")
	if err != nil {
		panic(err)
	}
	return p
}

// A profile's requirements hold exactly when tune would have nothing left
// to change: check --profile X verifies tune --profile X --apply.
func TestProfileAgreesWithPlan(t *testing.T) {
	for _, p := range advise.Profiles {
		for _, cur := range []map[string]int64{
			{"net.core.somaxconn": 128, "net.ipv4.tcp_syncookies": 2, "net.ipv4.tcp_abort_on_overflow": 1},
			{"net.core.somaxconn": 65535, "net.ipv4.tcp_syncookies": 1, "net.ipv4.tcp_abort_on_overflow": 0,
				"net.core.netdev_max_backlog": 16384, "fs.file-max": 4194304, "fs.nr_open": 1048576},
			{"net.core.somaxconn": 1 << 20, "net.ipv4.tcp_syncookies": 1, "net.ipv4.tcp_abort_on_overflow": 0,
				"net.core.netdev_max_backlog": 1000, "fs.file-max": 4194304, "fs.nr_open": 1048576},
		} {
			plan := advise.PlanProfile(p, cur)
			pending := map[string]bool{}
			for _, c := range plan.Changes {
				pending[c.Key] = true
			}
			obs := &model.Observation{Sysctls: cur}
			for _, r := range Evaluate(ProfileRequirements(p), obs, EvalOptions{Missing: MissingPass}) {
				if !r.Evaluated {
					continue
				}
				if (r.Status == StatusFail) != pending[r.Subject] {
					t.Errorf("profile %s, %s=%d: check says %s but tune plans a change: %v", p.Name, r.Subject, cur[r.Subject], r.Status, pending[r.Subject])
				}
			}
		}
	}
}
