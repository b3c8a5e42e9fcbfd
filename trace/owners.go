package trace

import (
	"fmt"

	"github.com/prometheus/procfs"
)

// stateNames spell out /proc/PID/stat's state letters (fs/proc/array.c).
var stateNames = map[string]string{
	"R": "running", "S": "sleeping", "D": "disk sleep", "T": "stopped",
	"t": "tracing stop", "X": "dead", "Z": "zombie", "P": "parked", "I": "idle",
}

// OwnerStates reads each PID's scheduler state from /proc/PID/stat below
// procRoot, as "T (stopped)"; a process that is gone is left out.
func OwnerStates(procRoot string, pids []int) map[int]string {
	states := map[int]string{}
	fs, err := procfs.NewFS(procRoot)
	if err != nil {
		return states
	}
	for _, pid := range pids {
		p, err := fs.Proc(pid)
		if err != nil {
			continue
		}
		st, err := p.Stat()
		if err != nil {
			continue
		}
		states[pid] = fmt.Sprintf("%s (%s)", st.State, stateNames[st.State])
	}
	return states
}

// SelfRSS is this process's resident memory in bytes, 0 when unreadable.
func SelfRSS(procRoot string) uint64 {
	fs, err := procfs.NewFS(procRoot)
	if err != nil {
		return 0
	}
	p, err := fs.Self()
	if err != nil {
		return 0
	}
	st, err := p.Stat()
	if err != nil {
		return 0
	}
	return uint64(st.ResidentMemory())
}
