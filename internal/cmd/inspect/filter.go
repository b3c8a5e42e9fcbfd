package inspect

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/model"
)

// filter is --pid, --process and --address: which gathered listeners to
// show. Values of one flag are alternatives; different flags must all hold.
// --port is not here: it is handed to the gatherer, which skips the rest.
type filter struct {
	pids      []int
	processes []string
	prefixes  []netip.Prefix
}

// newFilter checks the flags' values.
func newFilter(o *Options) (filter, error) {
	f := filter{pids: o.PIDs, processes: o.Processes}
	for _, pid := range o.PIDs {
		if pid < 1 {
			return f, cmdutil.UsageErrorf("invalid --pid %d: want a process id, 1 or more", pid)
		}
	}
	for _, name := range o.Processes {
		if strings.TrimSpace(name) == "" {
			return f, cmdutil.UsageErrorf("invalid --process %q: want a process name, as ps -o comm shows it", name)
		}
	}
	for _, a := range o.Addresses {
		p, err := parseAddress(a)
		if err != nil {
			return f, cmdutil.UsageErrorf("invalid --address %q: want an IP address (127.0.0.1, ::1) or a prefix (10.0.0.0/8)", a)
		}
		f.prefixes = append(f.prefixes, p)
	}
	if o.NoProcesses && (len(o.PIDs) > 0 || len(o.Processes) > 0) {
		return f, cmdutil.UsageErrorf("--pid and --process need the owning processes; drop --no-processes")
	}
	return f, nil
}

// parseAddress reads an address, a bracketed IPv6 address or a prefix.
func parseAddress(s string) (netip.Prefix, error) {
	s = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "["), "]")
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// active reports whether any filter was asked for.
func (f filter) active() bool {
	return len(f.pids) > 0 || len(f.processes) > 0 || len(f.prefixes) > 0
}

// keep reports whether l passes every filter.
func (f filter) keep(l model.Listener) bool {
	if len(f.prefixes) > 0 {
		a, err := netip.ParseAddr(l.Address)
		if err != nil || !slices.ContainsFunc(f.prefixes, func(p netip.Prefix) bool { return p.Contains(a.Unmap()) }) {
			return false
		}
	}
	if len(f.pids) > 0 && !slices.ContainsFunc(l.Processes, func(p model.Process) bool { return slices.Contains(f.pids, p.PID) }) {
		return false
	}
	if len(f.processes) > 0 && !slices.ContainsFunc(l.Processes, func(p model.Process) bool { return slices.Contains(f.processes, p.Comm) }) {
		return false
	}
	return true
}

// apply drops the listeners of s that do not pass; the snapshot's
// tunables, counters and descriptors stay whole.
func (f filter) apply(s *model.Snapshot) {
	if s == nil || !f.active() {
		return
	}
	s.Listeners = slices.DeleteFunc(s.Listeners, func(l model.Listener) bool { return !f.keep(l) })
}
