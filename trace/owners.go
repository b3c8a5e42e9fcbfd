package trace

import (
	"fmt"

	"github.com/prometheus/procfs"

	"github.com/backlogctl/backlogctl/inspect"
)

// stateNames spell out /proc/PID/stat's state letters (fs/proc/array.c).
var stateNames = map[string]string{
	"R": "running", "S": "sleeping", "D": "disk sleep", "T": "stopped",
	"t": "tracing stop", "X": "dead", "Z": "zombie", "P": "parked", "I": "idle",
}

// ProcState is a process's name and scheduler state.
type ProcState struct {
	Comm string
	// State is /proc/PID/stat's state letter and meaning, e.g. "T (stopped)".
	State string
}

// OwnerStates reads each PID's name and state from /proc/PID/stat below
// procRoot; a process that is gone is left out.
func OwnerStates(procRoot string, pids []int) map[int]ProcState {
	states := map[int]ProcState{}
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
		states[pid] = ProcState{Comm: st.Comm, State: fmt.Sprintf("%s (%s)", st.State, stateNames[st.State])}
	}
	return states
}

// OwnerPIDs are the processes Join will want states for: the snapshot's
// owners and the last accepting process of each traced listener in the
// snapshot's namespaces.
func OwnerPIDs(ev *Evidence, m *inspect.MultiSnapshot) []int {
	seen := map[int]bool{}
	var pids []int
	add := func(pid int) {
		if pid > 0 && !seen[pid] {
			seen[pid] = true
			pids = append(pids, pid)
		}
	}
	reported := map[uint64]bool{}
	for _, ns := range m.Namespaces {
		reported[ns.Netns.Inode] = true
		for _, l := range ns.Listeners {
			for _, p := range l.Processes {
				add(p.PID)
			}
		}
	}
	for _, le := range ev.Listeners {
		if reported[le.Netns] { // the programs see every namespace
			add(le.LastAcceptPID)
			for _, e := range le.AcceptErrors {
				add(e.PID)
			}
		}
	}
	for _, e := range ev.UnattributedErrors {
		if reported[e.Netns] {
			add(e.PID)
		}
	}
	return pids
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
