// Package advise judges a snapshot: pure rules, no I/O. A snapshot goes in;
// findings with evidence and recommended values, and a plan of sysctl
// changes, come out.
package advise

import (
	"fmt"
	"sort"
	"strings"

	"github.com/backlogctl/backlogctl/internal/suggest"

	"github.com/backlogctl/backlogctl/sysctl/registry"
)

// Change is one planned sysctl write.
type Change struct {
	Key string `json:"key"`
	// Current is nil when the key is not visible here.
	Current *int64 `json:"current"`
	Target  int64  `json:"target"`
	// Scope is "netns" (this network namespace only) or "global".
	Scope  registry.Scope `json:"scope"`
	Reason string         `json:"reason"`
}

// Lowers reports whether the change would lower a size, by the one rule
// tune, sysctl set and rlimit set share (registry.LowersInt). Mode keys
// (tcp_syncookies, tcp_abort_on_overflow) choose a behaviour, not a size,
// so setting them is never lowering.
func (c Change) Lowers() bool {
	return c.Current != nil && registry.LowersInt(c.Key, *c.Current, c.Target)
}

// ModeKey reports whether a tunable's value is a mode, not a size (the
// registry's Key.Mode).
func ModeKey(name string) bool { return registry.IsMode(name) }

// Plan is an ordered set of changes, one per key.
type Plan struct {
	Changes []Change `json:"changes"`
}

// Profile is a named set of targets. Applying a profile never lowers a value
// the host already has higher.
type Profile struct {
	Name        string           `json:"name"`
	Description string           `json:"description"`
	Targets     map[string]int64 `json:"targets"`
	// Exact keys must equal their target (tcp_syncookies=1), not merely reach it.
	Exact map[string]bool `json:"exact,omitempty"`
}

// Profiles are the built-in profiles, shared by tune and check.
var Profiles = []Profile{
	{
		Name:        "default",
		Description: "kernel-correct baseline: somaxconn 4096, syncookies on, accept-queue overflow retried (not reset)",
		Targets: map[string]int64{
			"net.core.somaxconn":             4096,
			"net.ipv4.tcp_syncookies":        1,
			"net.ipv4.tcp_abort_on_overflow": 0,
		},
		Exact: map[string]bool{"net.ipv4.tcp_syncookies": true, "net.ipv4.tcp_abort_on_overflow": true},
	},
	{
		Name:        "high-concurrency",
		Description: "busy front ends: somaxconn 65535, syncookies on, larger input queue, more descriptors",
		Targets: map[string]int64{
			"net.core.somaxconn":             65535,
			"net.ipv4.tcp_syncookies":        1,
			"net.ipv4.tcp_abort_on_overflow": 0,
			"net.core.netdev_max_backlog":    16384,
			"fs.file-max":                    2097152,
			"fs.nr_open":                     1048576,
		},
		Exact: map[string]bool{"net.ipv4.tcp_syncookies": true, "net.ipv4.tcp_abort_on_overflow": true},
	},
}

// LookupProfile finds a built-in profile by name.
func LookupProfile(name string) (Profile, error) {
	for _, p := range Profiles {
		if p.Name == name {
			return p, nil
		}
	}
	return Profile{}, fmt.Errorf("unknown profile %q (known: %s)%s", name, strings.Join(ProfileNames(), ", "), suggest.DidYouMean(name, ProfileNames()))
}

// PlanProfile plans the changes that bring current up to profile p. Keys the
// host already has at or above target are left alone, except exact keys.
// Keys absent here (a global key inside a child namespace) are skipped.
func PlanProfile(p Profile, current map[string]int64) Plan {
	var plan Plan
	keys := make([]string, 0, len(p.Targets))
	for k := range p.Targets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, name := range keys {
		target := p.Targets[name]
		cur, ok := current[name]
		if !ok {
			continue
		}
		if cur == target || (!p.Exact[name] && cur > target) {
			continue
		}
		k, _ := registry.Lookup(name)
		c := cur
		plan.Changes = append(plan.Changes, Change{
			Key: name, Current: &c, Target: target, Scope: k.Scope,
			Reason: fmt.Sprintf("profile %s sets %s to %d", p.Name, name, target),
		})
	}
	return plan
}

// ProfileNames lists the built-in profiles' names in order.
func ProfileNames() []string {
	names := make([]string, 0, len(Profiles))
	for _, p := range Profiles {
		names = append(names, p.Name)
	}
	return names
}
