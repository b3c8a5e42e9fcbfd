package advise

import "github.com/backlogctl/backlogctl/hostfs"

// HostReader reads what advise needs beyond an inspect snapshot.
type HostReader interface {
	// SoftnetDropped sums /proc/net/softnet_stat column 2 over CPUs.
	SoftnetDropped(roots hostfs.Roots) (uint64, error)
	// Unit is the systemd unit pid runs in ("nginx.service"), or "".
	Unit(roots hostfs.Roots, pid int) (string, error)
	// MemTotal is the host's memory in bytes.
	MemTotal(roots hostfs.Roots) (uint64, error)
}

// procHost reads them through hostfs, at the roots it is given.
type procHost struct{}

func (procHost) SoftnetDropped(roots hostfs.Roots) (uint64, error) { return roots.SoftnetDropped() }

func (procHost) MemTotal(roots hostfs.Roots) (uint64, error) { return roots.MemTotal() }

func (procHost) Unit(roots hostfs.Roots, pid int) (string, error) { return roots.Unit(pid) }
