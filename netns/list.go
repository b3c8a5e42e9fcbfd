package netns

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/backlogctl/backlogctl/hostfs"
)

// List finds every distinct network namespace on the host: those held by a
// process (roots.Proc/PID/ns/net) and those mounted under roots.Netns, deduplicated
// by inode and sorted by inode. Processes that exit mid-scan are skipped.
// Notes say what could not be looked at.
func List(roots hostfs.Roots) ([]Namespace, []string, error) {
	roots = roots.WithDefaults()
	procRoot, runDir := roots.Proc, roots.Netns
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, nil, fmt.Errorf("listing processes: %w", err)
	}
	names := namesByInode(runDir)
	byInode := map[uint64]*Namespace{}
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
			ns = &Namespace{Inode: ino, Path: p, Name: names[ino]}
			if ns.Name != "" {
				ns.Path = filepath.Join(runDir, ns.Name)
			}
			byInode[ino] = ns
		}
		if ns.Hint == "" {
			if cg, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "cgroup")); err == nil {
				ns.Hint = CgroupHint(cg)
			}
		}
	}
	for ino, name := range names {
		if _, ok := byInode[ino]; !ok {
			byInode[ino] = &Namespace{Inode: ino, Name: name, Path: filepath.Join(runDir, name)}
		}
	}
	out := make([]Namespace, 0, len(byInode))
	for _, ns := range byInode {
		out = append(out, *ns)
	}
	slices.SortFunc(out, func(a, b Namespace) int { return cmp.Compare(a.Inode, b.Inode) })
	var notes []string
	if denied > 0 {
		notes = append(notes, fmt.Sprintf("could not read the network namespace of %d processes (run as root)", denied))
	}
	return out, notes, nil
}

// CgroupHint recognises a container or pod from a /proc/PID/cgroup file,
// through hostfs's one cgroup parser: Kubernetes pod cgroups ("pod:<UID>"),
// and docker, containerd (cri-containerd), CRI-O and podman (libpod) scopes
// ("docker:<ID12>"). Every hierarchy's path is looked at (a v1 host may show
// the container in any controller's). It returns "" when nothing matches.
func CgroupHint(cgroup []byte) string {
	for line := range bytes.Lines(cgroup) {
		// "0::/path" on cgroup v2; "N:controllers:/path" on v1.
		fields := bytes.SplitN(bytes.TrimSpace(line), []byte(":"), 3)
		if len(fields) != 3 {
			continue
		}
		if h := hostfs.ParseCgroup(string(fields[2])).Hint(); h != "" {
			return h
		}
	}
	return ""
}
