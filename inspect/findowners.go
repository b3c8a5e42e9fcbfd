package inspect

import "github.com/backlogctl/backlogctl/hostfs"

// FindOwners fills each listener's Processes with the pids holding it (PID
// only: nothing else of the process is read), from one /proc/*/fd walk.
// Callers that read the owners themselves (rlimit) use it instead of
// Gather, so each process is read once. The warning names the processes
// whose descriptors could not be read.
func FindOwners(roots hostfs.Roots, ls []Listener) (string, error) {
	want := make(map[uint32]struct{}, len(ls))
	for _, l := range ls {
		if l.Inode != 0 {
			want[l.Inode] = struct{}{}
		}
	}
	scan, err := scanOwners(roots.WithDefaults().Proc, want, false)
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
