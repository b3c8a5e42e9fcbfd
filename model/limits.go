package model

import "strconv"

// Nofile is a process's RLIMIT_NOFILE.
type Nofile struct {
	Soft uint64 `json:"soft"`
	Hard uint64 `json:"hard"`
}

// String is "SOFT:HARD", as prlimit(1) and LimitNOFILE= write it.
func (n Nofile) String() string {
	return FormatLimit(n.Soft) + ":" + FormatLimit(n.Hard)
}

// FormatLimit prints a limit as /proc/PID/limits does: a number or "unlimited".
func FormatLimit(v uint64) string {
	if v == Unlimited {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}

// LimitsReport is what `backlogctl rlimit` shows: each process's descriptor
// limit and usage, against the system-wide ceiling. Its JSON form is a
// contract: field names are stable, new fields may be added.
type LimitsReport struct {
	// NrOpen is fs.nr_open, the ceiling for any hard limit; nil when not visible.
	NrOpen    *int64          `json:"nr_open"`
	Processes []ProcessLimits `json:"processes"`
	// Warnings say what could not be seen, once each.
	Warnings []string `json:"warnings,omitempty"`
}

// ProcessLimits is one process's descriptor limit and usage.
type ProcessLimits struct {
	// Netns labels the network namespace of the listeners in Ports, with
	// --netns or --all-netns: a process holding listeners in two
	// namespaces has a row for each.
	Netns string `json:"netns,omitempty"`
	PID   int    `json:"pid"`
	Comm  string `json:"comm"`
	// Unit is the systemd service the process runs in ("" when none): where
	// LimitNOFILE= belongs to make a limit survive a restart.
	Unit string `json:"unit"`
	// Workload is the container and Kubernetes pod the process runs in,
	// when it runs in one: there, not in a unit, is where its limit is set.
	Workload
	// Ports are the TCP ports of the listeners the process holds, Paths
	// the paths of its Unix listeners.
	Ports  []uint16 `json:"ports"`
	Paths  []string `json:"paths,omitempty"`
	Nofile Nofile   `json:"nofile"`
	// OpenFDs is nil when /proc/PID/fd is not readable (it needs ptrace access).
	OpenFDs *int `json:"open_fds"`
	// FDsAboveLimit are open descriptors numbered at or above the soft
	// limit: inherited from before it was set (the kernel checks the limit
	// only when it allocates, alloc_fd), they do not use up its room.
	FDsAboveLimit int `json:"fds_above_limit,omitempty"`
	// Usage is (OpenFDs-FDsAboveLimit)/Nofile.Soft: 1 means accept() now
	// fails with EMFILE.
	Usage *float64 `json:"usage"`
	// Status judges Usage (UsageStatus): ok, near (within NearMargin of the
	// soft limit), at-limit, or unknown when OpenFDs is nil.
	Status string `json:"status"`
	// SocketInodes are the inodes of every socket the process holds, for
	// matching it to listeners.
	SocketInodes []uint32 `json:"-"`
}
