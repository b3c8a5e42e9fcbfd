package sysctl

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// NetnsInode returns the inode number that identifies the caller's network
// namespace, from the procRoot/self/ns/net link ("net:[4026531840]"); ip
// netns identify and lsns print the same number. Per-netns tunables are
// written in this namespace only (net/sysctl_net.c net_ctl_header_lookup).
func NetnsInode(procRoot string) (uint64, error) {
	return NetnsInodeOf(procRoot, "self")
}

// NetnsInodeOf is NetnsInode for process pid ("1" is init: the namespace
// boot-time sysctl.d files are applied in).
func NetnsInodeOf(procRoot, pid string) (uint64, error) {
	if procRoot == "" {
		procRoot = "/proc"
	}
	link, err := os.Readlink(filepath.Join(procRoot, pid, "ns", "net"))
	if err != nil {
		return 0, fmt.Errorf("reading network namespace: %w", err)
	}
	num, ok := strings.CutPrefix(link, "net:[")
	num, ok2 := strings.CutSuffix(num, "]")
	if !ok || !ok2 {
		return 0, fmt.Errorf("reading network namespace: unexpected link %q", link)
	}
	ino, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("reading network namespace: unexpected link %q", link)
	}
	return ino, nil
}
