package advise

import "github.com/backlogctl/backlogctl/hostfs"

// HostReader reads what advise needs beyond an inspect snapshot.
type HostReader interface {
	// SoftnetDropped sums /proc/net/softnet_stat column 2 over CPUs.
	SoftnetDropped(procRoot string) (uint64, error)
	// Unit is the systemd unit pid runs in ("nginx.service"), or "".
	Unit(procRoot string, pid int) (string, error)
	// MemTotal is the host's memory in bytes.
	MemTotal(procRoot string) (uint64, error)
}

// procHost reads them through hostfs, rooted at procRoot.
type procHost struct{}

func (procHost) SoftnetDropped(procRoot string) (uint64, error) {
	return hostfs.Roots{Proc: procRoot}.SoftnetDropped()
}

func (procHost) MemTotal(procRoot string) (uint64, error) {
	return hostfs.Roots{Proc: procRoot}.MemTotal()
}

func (procHost) Unit(procRoot string, pid int) (string, error) {
	return hostfs.Roots{Proc: procRoot}.Unit(pid)
}
