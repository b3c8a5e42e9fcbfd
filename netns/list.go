package netns

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/model"
)

// List finds every distinct network namespace on the host: those held by a
// process (roots.Proc/PID/ns/net) and those mounted under roots.Netns, deduplicated
// by inode and sorted by inode. Processes that exit mid-scan are skipped.
// Notes say what could not be looked at.
func List(roots hostfs.Roots) ([]model.Namespace, []string, error) {
	roots = roots.WithDefaults()
	procRoot, runDir := roots.Proc, roots.Netns
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, nil, fmt.Errorf("listing processes: %w", err)
	}
	names := namesByInode(runDir)
	byInode := map[uint64]*model.Namespace{}
	denied := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		p := filepath.Join(procRoot, e.Name(), "ns", "net")
		ino, err := nsInode(p)
		if err != nil {
			if os.IsPermission(err) {
				denied++
			}
			continue // exited, or a kernel thread without one
		}
		ns, ok := byInode[ino]
		if !ok {
			ns = &model.Namespace{Inode: ino, Path: p, Name: names[ino]}
			if ns.Name != "" {
				ns.Path = filepath.Join(runDir, ns.Name)
			}
			byInode[ino] = ns
		}
		if ns.Hint == "" {
			ns.Hint, _ = roots.CgroupHint(pid)
		}
	}
	for ino, name := range names {
		if _, ok := byInode[ino]; !ok {
			byInode[ino] = &model.Namespace{Inode: ino, Name: name, Path: filepath.Join(runDir, name)}
		}
	}
	out := make([]model.Namespace, 0, len(byInode))
	for _, ns := range byInode {
		out = append(out, *ns)
	}
	slices.SortFunc(out, func(a, b model.Namespace) int { return cmp.Compare(a.Inode, b.Inode) })
	var notes []string
	if denied > 0 {
		notes = append(notes, fmt.Sprintf("could not read the network namespace of %d processes (run as root)", denied))
	}
	return out, notes, nil
}
