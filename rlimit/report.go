package rlimit

import "slices"

// Report is what `backlogctl rlimit` shows: each process's descriptor limit
// and usage, against the system-wide ceiling. Its JSON form is a contract:
// field names are stable, new fields may be added.
type Report struct {
	// NrOpen is fs.nr_open, the ceiling for any hard limit; nil when not visible.
	NrOpen    *int64    `json:"nr_open"`
	Processes []Process `json:"processes"`
	// Warnings say what could not be seen, once each.
	Warnings []string `json:"warnings,omitempty"`
}

// AttachPorts sets p.Ports to the ports of the listeners whose socket inode
// p holds, given as inode -> port; each port once, in ascending order.
func (p *Process) AttachPorts(listenerPorts map[uint32]uint16) {
	seen := map[uint16]bool{}
	ports := []uint16{}
	for _, ino := range p.SocketInodes {
		if port, ok := listenerPorts[ino]; ok && !seen[port] {
			seen[port] = true
			ports = append(ports, port)
		}
	}
	slices.Sort(ports)
	p.Ports = ports
}
