package collect

import (
	"errors"
	"strconv"
	"strings"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/sysctl"
)

// recordedChanges returns the changes of the last apply recorded in
// stateDir that are still in force in the network namespace judged (ns,
// its inode; 0: the one this process runs in): an apply that wrote its
// values (applied, or died midway) and was not rolled back, made in that
// namespace when its keys are per namespace (tune --netns records the
// namespace it ran inside). No record is no changes. It is the one place
// that turns tune's record into the model.
func recordedChanges(stateDir string, roots hostfs.Roots, ns uint64) ([]model.SysctlChange, error) {
	st, err := sysctl.LoadState(stateDir)
	if errors.Is(err, sysctl.ErrNoState) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if st.Status != sysctl.StatusApplied && st.Status != sysctl.StatusApplying {
		return nil, nil
	}
	here := ns
	if here == 0 {
		here, _ = sysctl.NetnsInode(roots.Proc)
	}
	var out []model.SysctlChange
	for _, s := range st.Steps {
		k, ok := sysctl.Lookup(s.Key)
		if ok && k.Scope == sysctl.ScopeNetns && st.Netns != 0 && here != 0 && st.Netns != here {
			continue // written in another network namespace
		}
		from, err1 := strconv.ParseInt(strings.TrimSpace(s.Previous), 10, 64)
		to, err2 := strconv.ParseInt(strings.TrimSpace(s.Value), 10, 64)
		if err1 != nil || err2 != nil || from == to {
			continue
		}
		out = append(out, model.SysctlChange{Key: s.Key, From: from, To: to, At: st.Time})
	}
	return out, nil
}

// childNetns reports whether the namespace a snapshot's sysctls were read
// in is not the initial one: its counters started when it was created. The
// global net.core.netdev_max_backlog is registered for the initial
// namespace only (net/core/sysctl_net_core.c), so a namespace that shows
// net.core.somaxconn but not it is a child, and one that shows both is the
// initial one. Where net.core.* is hidden (rootless containers before
// 6.12), the caller's namespace is compared with init's. ok is false when
// neither tells.
func childNetns(roots hostfs.Roots, sysctls map[string]int64) (child, ok bool) {
	if _, somax := sysctls["net.core.somaxconn"]; somax {
		_, global := sysctls["net.core.netdev_max_backlog"]
		return !global, true
	}
	self, err := sysctl.NetnsInode(roots.Proc)
	if err != nil {
		return false, false
	}
	init, err := sysctl.NetnsInodeOf(roots.Proc, "1")
	if err != nil {
		return false, false
	}
	return self != init, true
}
