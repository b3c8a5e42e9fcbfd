package model

import (
	"math"
	"time"
)

// Process is a process holding a listening socket, with its descriptor usage.
type Process struct {
	PID     int    `json:"pid"`
	Comm    string `json:"comm"`
	OpenFDs int    `json:"open_fds"`
	// FDsAboveLimit are descriptors numbered at or above NofileSoft:
	// inherited from before the limit was set (the kernel checks it only
	// when it allocates), they are open but do not use up its room.
	FDsAboveLimit int    `json:"fds_above_limit,omitempty"`
	NofileSoft    uint64 `json:"nofile_soft"`
	NofileHard    uint64 `json:"nofile_hard"`
	// Cmdline is the command line, for recognising the program (nginx, haproxy ...).
	Cmdline string `json:"cmdline,omitempty"`
	// State is the scheduler state from /proc/PID/stat: R running, S
	// sleeping, T stopped (SIGSTOP), t traced, D uninterruptible sleep, Z
	// zombie; it and StartTime are filled by callers that judge owners
	// (advise), through the collector's owner stat.
	State string `json:"state,omitempty"`
	// StartTime is when the process started (/proc/PID/stat starttime after boot).
	StartTime *time.Time `json:"start_time,omitempty"`
	// GoVersion is the Go release the executable was built with, when it is
	// a Go program (its net.Listen uses somaxconn as the backlog); filled by
	// callers that recognise programs (advise).
	GoVersion string `json:"go_version,omitempty"`
}

// FDUsage is the descriptors below the soft RLIMIT_NOFILE against it (what
// accept() hits with EMFILE).
func (p Process) FDUsage() float64 {
	if p.NofileSoft == 0 {
		return 0
	}
	return float64(p.OpenFDs-p.FDsAboveLimit) / float64(p.NofileSoft)
}

// Unlimited is how an "unlimited" limit is represented (RLIM_INFINITY).
const Unlimited = math.MaxUint64

// Usage statuses of a process's descriptors against its soft RLIMIT_NOFILE,
// as `backlogctl rlimit` and advise judge them.
const (
	// StatusOK: below the soft limit by more than the margin (or unlimited).
	StatusOK = "ok"
	// StatusNear: within NearMargin of the soft limit.
	StatusNear = "near"
	// StatusAtLimit: at or above the soft limit; accept() fails with EMFILE.
	StatusAtLimit = "at-limit"
	// StatusUnknown: the open descriptors could not be counted.
	StatusUnknown = "unknown"
)

// NearMargin is how close to the soft limit counts as near it: 1% of it,
// at least 2 descriptors.
func NearMargin(soft uint64) uint64 { return max(2, soft/100) }

// UsageStatus judges open descriptors against a soft limit; open < 0 means
// they could not be counted.
func UsageStatus(open int, soft uint64) string {
	switch {
	case open < 0:
		return StatusUnknown
	case soft == 0 || soft == Unlimited:
		return StatusOK
	case uint64(open) >= soft:
		return StatusAtLimit
	case uint64(open)+NearMargin(soft) >= soft:
		return StatusNear
	}
	return StatusOK
}

// Files is the host's descriptor accounting.
type Files struct {
	// Allocated is the first field of fs.file-nr: file handles in use.
	Allocated int64 `json:"allocated"`
	// Max is fs.file-max.
	Max int64 `json:"max"`
	// NrOpen is fs.nr_open, the ceiling for any RLIMIT_NOFILE.
	NrOpen int64 `json:"nr_open"`
}

// Usage is Allocated/Max, or 0 when Max is unknown.
func (f Files) Usage() float64 {
	if f.Max <= 0 {
		return 0
	}
	return float64(f.Allocated) / float64(f.Max)
}
