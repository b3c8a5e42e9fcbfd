package advise

import "fmt"

// profileFindings reports each key below the chosen profile's target, as
// PlanProfile plans it: never lowering a size the host already has higher.
func profileFindings(v *view) []Finding {
	if v.in.Profile == nil {
		return nil
	}
	p := *v.in.Profile
	var out []Finding
	for _, c := range PlanProfile(p, v.now.Sysctls).Changes {
		reason := fmt.Sprintf("profile %s (%s) wants %s %s %d; this host has %d.", p.Name, p.Description, c.Key, relation(p, c.Key), c.Target, *c.Current)
		out = append(out, Finding{
			ID: "below-profile", Severity: Warning, Subject: c.Key, Key: c.Key,
			Current: c.Current, Recommended: int64p(c.Target),
			Reason: reason, Fix: fmt.Sprintf("set %s=%d (backlogctl tune --profile %s)", c.Key, c.Target, p.Name),
			Evidence: map[string]float64{"current": float64(*c.Current), "target": float64(c.Target)},
		})
	}
	return out
}

func relation(p Profile, key string) string {
	if p.Exact[key] {
		return "="
	}
	return ">="
}

// dedupeProfile drops a below-profile finding when another finding already
// recommends the same value for the same key.
func dedupeProfile(fs []Finding) []Finding {
	type kv struct {
		key string
		val int64
	}
	recommended := map[kv]bool{}
	for _, f := range fs {
		if f.ID != "below-profile" && f.Key != "" && f.Recommended != nil {
			recommended[kv{f.Key, *f.Recommended}] = true
		}
	}
	out := fs[:0]
	for _, f := range fs {
		if f.ID == "below-profile" && recommended[kv{f.Key, *f.Recommended}] {
			continue
		}
		out = append(out, f)
	}
	return out
}
