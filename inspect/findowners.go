package inspect

import "github.com/backlogctl/backlogctl/hostfs"

// FindOwners fills each listener's Processes with the pids holding it (PID
// only: nothing else of the process is read), from one /proc/*/fd walk.
// Callers that read the owners themselves (rlimit) use it instead of
// Gather, so each process is read once. The warning names the processes
// whose descriptors could not be read.
func FindOwners(roots hostfs.Roots, ls []Listener) (string, error) {
	scan, err := scanOwners(roots.WithDefaults().Proc, listenerInodes(ls), false)
	if err != nil {
		return "", err
	}
	for i := range ls {
		ls[i].Processes = []Process{}
		for _, pid := range scan.owners[ls[i].Inode] {
			ls[i].Processes = append(ls[i].Processes, Process{PID: pid})
		}
	}
	if scan.unreadable > 0 {
		return unreadableNote(scan.unreadable), nil
	}
	return "", nil
}
