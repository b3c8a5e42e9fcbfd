package model

import (
	"math"
	"slices"
	"strings"
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
	// Workload is the container and Kubernetes pod the process runs in,
	// when it runs in one (its fields are the process's own in JSON).
	Workload
}

// Workload names the container a process runs in and, on a Kubernetes
// node, its pod: the IDs from the process's cgroup, the names from the
// node's container runtime. Every field is "" when not known: a process
// outside any container has none, a Docker container outside Kubernetes
// only ContainerID, and a pod's process has its names only when the
// runtime's CRI socket could be asked.
type Workload struct {
	// Pod and Namespace are the Kubernetes pod's name and namespace.
	Pod       string `json:"pod,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	// Container is the container's name in the pod's spec; "" for a pod's
	// sandbox (pause) process.
	Container string `json:"container,omitempty"`
	// ContainerID is the runtime's full container ID.
	ContainerID string `json:"container_id,omitempty"`
	// PodUID is the pod's UID, from the kubelet's cgroup path.
	PodUID string `json:"pod_uid,omitempty"`
}

// InPod reports whether w names a Kubernetes pod.
func (w Workload) InPod() bool { return w.Pod != "" }

// PodName is "namespace/pod", as kubectl's -n NAMESPACE POD names it; ""
// outside a known pod.
func (w Workload) PodName() string {
	if w.Pod == "" {
		return ""
	}
	return w.Namespace + "/" + w.Pod
}

// Ref is "namespace/pod/container" (without the container for a pod's
// sandbox), "container:ID12" for a container with no pod name (the short
// ID docker ps shows), or "". (Not String: types that embed a Workload
// would print as it.)
func (w Workload) Ref() string {
	switch {
	case w.Pod != "" && w.Container != "":
		return w.PodName() + "/" + w.Container
	case w.Pod != "":
		return w.PodName()
	case w.ContainerID != "":
		return "container:" + w.ContainerID[:min(12, len(w.ContainerID))]
	}
	return ""
}

// PodsOf names the pods and containers ps run in ("shop/web/app", see
// Workload.Ref), each once, comma-joined in order; "" when none runs in
// a known pod: what a table's POD column shows.
func PodsOf(ps []Process) string {
	var names []string
	for _, p := range ps {
		if s := p.Ref(); p.InPod() && !slices.Contains(names, s) {
			names = append(names, s)
		}
	}
	return strings.Join(names, ",")
}

// AnyInPod reports whether an owner of any of ls runs in a known pod: a
// table then has a POD column.
func AnyInPod(ls []Listener) bool {
	for _, l := range ls {
		for _, p := range l.Processes {
			if p.InPod() {
				return true
			}
		}
	}
	return false
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
