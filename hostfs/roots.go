package hostfs

import (
	"errors"

	"github.com/prometheus/procfs"
)

// Roots are the directories the host is read from.
type Roots struct {
	// Proc is the procfs mount, /proc on the host.
	Proc string
	// Sys is the sysctl tree, /proc/sys on the host.
	Sys string
	// Netns is where named network namespaces are bound, /run/netns.
	Netns string
	// Runtime is the container runtime's CRI socket, which names the pods
	// and containers of the processes (a path, or crictl's
	// "unix:///run/containerd/containerd.sock"); "" looks for containerd's,
	// CRI-O's and cri-dockerd's in their usual places.
	Runtime string
}

// EnvRuntimeEndpoint is the environment variable that names Roots.Runtime,
// as it does for crictl.
const EnvRuntimeEndpoint = "CONTAINER_RUNTIME_ENDPOINT"

// Host is the running host's roots.
func Host() Roots { return Roots{Proc: "/proc", Sys: "/proc/sys", Netns: "/run/netns"} }

// WithDefaults fills empty roots with the host's.
func (r Roots) WithDefaults() Roots {
	h := Host()
	if r.Proc == "" {
		r.Proc = h.Proc
	}
	if r.Sys == "" {
		r.Sys = h.Sys
	}
	if r.Netns == "" {
		r.Netns = h.Netns
	}
	return r
}

// procFS opens the procfs reader at r.Proc.
func (r Roots) procFS() (procfs.FS, error) {
	return procfs.NewFS(r.WithDefaults().Proc)
}

// SoftnetDropped sums /proc/net/softnet_stat's dropped column over CPUs:
// packets the backlog of a CPU had no room for (netdev_max_backlog).
func (r Roots) SoftnetDropped() (uint64, error) {
	pfs, err := r.procFS()
	if err != nil {
		return 0, err
	}
	stats, err := pfs.NetSoftnetStat()
	if err != nil {
		return 0, err
	}
	var dropped uint64
	for _, s := range stats {
		dropped += uint64(s.Dropped)
	}
	return dropped, nil
}

// MemTotal is the host's memory in bytes, from /proc/meminfo.
func (r Roots) MemTotal() (uint64, error) {
	pfs, err := r.procFS()
	if err != nil {
		return 0, err
	}
	m, err := pfs.Meminfo()
	if err != nil {
		return 0, err
	}
	if m.MemTotalBytes == nil {
		return 0, errors.New("meminfo has no MemTotal")
	}
	return *m.MemTotalBytes, nil
}
