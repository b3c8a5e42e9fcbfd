package inspect

import (
	"fmt"

	"github.com/backlogctl/backlogctl/model"
)

// Listeners dumps the listening sockets of both families with d (nil: a
// dumper opened for the call, in the calling thread's network namespace),
// with their SYN-queue counts, keeping only those on ports (every one when
// ports is empty).
func Listeners(d *Dumper, ports []uint16) ([]model.Listener, error) {
	return listeners(d, ports, true)
}

// listeners is Listeners, with the request sockets (the SYN-queue counts)
// only when requests is set.
func listeners(d *Dumper, ports []uint16, requests bool) ([]model.Listener, error) {
	if d == nil {
		var err error
		if d, err = NewDumper(); err != nil {
			return nil, err
		}
		defer d.Close()
	}
	set := &listenerSet{}
	if len(ports) > 0 {
		set.ports = map[uint16]bool{}
		for _, p := range ports {
			set.ports[p] = true
		}
	}
	states := uint32(1 << stateListen)
	if requests {
		states |= 1 << stateSynRecv
	}
	// One request for both families: the kernel walks the listening and
	// established tables once (inet_diag_dump_icsk).
	if err := d.DumpAll(states, set.add, set.reset); err != nil {
		return nil, fmt.Errorf("dumping listeners: %w", err)
	}
	return set.finish(), nil
}
