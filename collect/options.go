package collect

import (
	"time"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/trace"
)

// Options say what to collect and from where.
type Options struct {
	// synWalks, set by a Collector, lets its snapshots skip the walk of
	// request sockets where none can exist (synwalk.go).
	synWalks *synWalks
	// Roots are where /proc, /proc/sys and /run/netns are read ("" parts:
	// the host's).
	Roots hostfs.Roots
	// Namespaces are the network namespaces to read; none set: this one,
	// in place.
	Namespaces Namespaces
	// Ports, when not empty, keeps only TCP listeners on these ports;
	// Paths, when not empty, keeps only Unix listeners whose path (or
	// "@abstract" name) matches one, exactly or as a path.Match pattern.
	// With only ports no Unix listener is kept, with only paths no TCP one
	// (inspect.Selection).
	Ports []uint16
	Paths []string
	// Owners says whether and how each listener's owning processes are
	// found (a walk of every /proc/PID/fd); OwnersMaxAge is how long cached
	// owners are trusted before a new walk (0: a minute).
	Owners       Owners
	OwnersMaxAge time.Duration
	// Pods names each owner's container and Kubernetes pod
	// (model.Workload), where Owners finds owners: the container ID and pod
	// UID from its cgroup, the names from the node's container runtime
	// (Roots.Runtime, or the CRI socket found on the host), asked only
	// about a process in a pod, with a short timeout; a runtime that cannot
	// be asked is a warning.
	Pods bool
	// Trace says whether and how the listeners are traced with eBPF.
	Trace TraceMode
	// TraceListeners raises the programs' listener table to room for this
	// many listeners (--trace-listeners); by default it is sized from the
	// listeners there are when tracing starts.
	TraceListeners int
	// Stall is the tracing threshold of a stalled queue: held this long
	// with no accept(). Zero: DefaultStall.
	Stall time.Duration
	// OpenTrace starts tracing with the options given; nil means
	// trace.Open (the kernel's programs, or a recording). Tests replace it.
	OpenTrace func(trace.Options) (trace.Source, error)
}

// Owners says how listeners' owners are found.
type Owners int

const (
	// OwnersOff: no /proc walk; listeners have no Processes.
	OwnersOff Owners = iota
	// OwnersOn: one /proc walk per snapshot, beside the sock_diag dump.
	OwnersOn
	// OwnersCached: a walk redone only when a listener is new, an owner
	// exited or a while has passed, and then in the background (the
	// exporter, trace --processes): a listener whose owners are still
	// being looked up is marked OwnersPending.
	OwnersCached
	// OwnersUnaccepted: as OwnersCached, but only for snapshots in which a
	// listener holds connections and tracing saw no accept() to name its
	// owner (trace without --processes: the acceptor is the owner).
	OwnersUnaccepted
)

// TraceMode says whether and how the listeners are traced with eBPF
// (--trace-mode): which of trace's sets of programs is attached.
type TraceMode string

const (
	// TraceOff: no eBPF.
	TraceOff TraceMode = ""
	// TraceFull: attach every program of trace (trace.ModeFull: the queue's
	// side, accept() and io_uring's accepts) and join their evidence to the
	// listeners (model.Listener.Traced).
	TraceFull TraceMode = TraceMode(trace.ModeFull)
	// TraceQueue: the queue's side only (trace.ModeQueue): no syscall
	// tracepoint; accepts are inferred from the queue.
	TraceQueue TraceMode = TraceMode(trace.ModeQueue)
	// TraceOn is TraceFull.
	TraceOn = TraceFull
)

// DefaultStall is the stall threshold when Options.Stall is zero.
const DefaultStall = time.Second

func (o Options) stall() time.Duration {
	if o.Stall <= 0 {
		return DefaultStall
	}
	return o.Stall
}

// selection is which listeners o keeps.
func (o Options) selection() inspect.Selection {
	return inspect.Selection{Ports: o.Ports, Paths: o.Paths}
}

func (o Options) openTrace(to trace.Options) (trace.Source, error) {
	if o.OpenTrace != nil {
		return o.OpenTrace(to)
	}
	return trace.Open(to)
}

// TraceModeOf is the tracing --trace-mode asks for: "queue" or "full", and
// full when not given.
func TraceModeOf(flag string) TraceMode {
	if flag == string(TraceQueue) {
		return TraceQueue
	}
	return TraceFull
}
