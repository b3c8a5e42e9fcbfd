package model

import "time"

// Sample is one snapshot and what advise reads beside it.
type Sample struct {
	// Snapshot holds the tunables, listeners, counters and descriptor usage.
	Snapshot *Snapshot `json:"snapshot"`
	// SoftnetDropped is the sum over CPUs of /proc/net/softnet_stat column 2
	// (packets dropped because a CPU's input queue, net.core.netdev_max_backlog,
	// was full); nil when it was not read.
	SoftnetDropped *uint64 `json:"softnet_dropped,omitempty"`
}

// Samples is what advise and tune judge of one network namespace: a
// snapshot, or two taken Interval apart (or the ends of a traced window,
// whose evidence the last one's listeners carry), with the host facts the
// rules need about the listeners' owners and what backlogctl changed.
type Samples struct {
	// Netns is the namespace, when one was named (--netns, --all-netns).
	Netns *Namespace
	Now   Sample
	// Before, when set, is a sample taken Interval before Now: counters are
	// then judged by their change.
	Before   *Sample
	Interval time.Duration
	// Units maps a pid to its systemd unit ("nginx.service"), for pids that
	// run in one.
	Units map[int]string
	// MemTotal is the host's memory in bytes (0 when unknown).
	MemTotal uint64
	// ChildNetns is true when the snapshot is of a network namespace other
	// than the initial one: its counters started when it was created.
	// NetnsUnknown is true when that could not be told.
	ChildNetns, NetnsUnknown bool
	// Changes are the tunable changes backlogctl itself recorded (tune's
	// state), oldest first.
	Changes []SysctlChange
	// TraceSeconds is how long the window was traced with eBPF, 0 when it
	// was not; TraceStall the threshold below which a held queue is not a
	// stall.
	TraceSeconds float64
	TraceStall   time.Duration
	// TraceSince is when the traced window began (its programs attached):
	// every namespace of one run shares one window.
	TraceSince time.Time
	// Warnings say what could not be seen, once each.
	Warnings []string
}
