package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/model"
)

// DefaultRunDir is where `ip netns add` mounts named namespaces.
const DefaultRunDir = "/run/netns"

// Resolve turns a --netns argument into a Namespace: an argument containing a
// slash is a path (/proc/PID/ns/net, a bind mount); otherwise it is a name
// under runDir. It fails with ErrVanished if nothing is there, or an error
// naming the file when it is not a network namespace.
func Resolve(arg, runDir string) (model.Namespace, error) {
	if arg == "" {
		return model.Namespace{}, errors.New("empty network namespace name")
	}
	if runDir == "" {
		runDir = DefaultRunDir
	}
	ns := model.Namespace{Path: arg}
	if !strings.Contains(arg, "/") {
		if arg == "." || arg == ".." {
			return model.Namespace{}, fmt.Errorf("invalid network namespace name %q", arg)
		}
		ns.Name, ns.Path = arg, filepath.Join(runDir, arg)
	}
	ino, err := nsInode(ns.Path)
	if err != nil {
		return model.Namespace{}, err
	}
	ns.Inode = ino
	if ns.Name == "" {
		ns.Name = namesByInode(runDir)[ino]
	}
	return ns, nil
}

// Current returns the namespace of the calling thread.
func Current() (model.Namespace, error) {
	p := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
	ino, err := nsInode(p)
	if err != nil {
		return model.Namespace{}, err
	}
	return model.Namespace{Inode: ino, Path: p}, nil
}

// nsInode stats a namespace file and checks it is one: nsfs files are what
// setns accepts, anything else (a plain file, a directory) is refused early,
// and so is a namespace of another type (/proc/PID/ns/mnt), which setns
// with CLONE_NEWNET would refuse with a bare EINVAL.
func nsInode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, openError(path, err)
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(path, &sfs); err == nil && sfs.Type != unix.NSFS_MAGIC {
		return 0, fmt.Errorf("%s is not a network namespace file (not on nsfs)", path)
	}
	if kind, err := nsType(path); err == nil && kind != unix.CLONE_NEWNET {
		return 0, fmt.Errorf("%s is a %s namespace, not a network namespace (want /proc/PID/ns/net)", path, nsTypeName(kind))
	}
	return st.Ino, nil
}

// nsType asks the kernel which kind of namespace path is (ioctl
// NS_GET_NSTYPE, since 4.11: a CLONE_NEW* flag).
func nsType(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	return unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
}

func nsTypeName(kind int) string {
	switch kind {
	case unix.CLONE_NEWNS:
		return "mount"
	case unix.CLONE_NEWUTS:
		return "uts"
	case unix.CLONE_NEWIPC:
		return "ipc"
	case unix.CLONE_NEWPID:
		return "pid"
	case unix.CLONE_NEWUSER:
		return "user"
	case unix.CLONE_NEWCGROUP:
		return "cgroup"
	case unix.CLONE_NEWTIME:
		return "time"
	}
	return fmt.Sprintf("type %#x", kind)
}

// Names lists the namespaces mounted under runDir (`ip netns list`), sorted.
func Names(runDir string) []string {
	if runDir == "" {
		runDir = DefaultRunDir
	}
	var names []string
	for _, name := range namesByInode(runDir) {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// namesByInode maps the inode of every namespace mounted under runDir to its name.
func namesByInode(runDir string) map[uint64]string {
	out := map[uint64]string{}
	entries, err := os.ReadDir(runDir)
	if err != nil {
		return out
	}
	for _, e := range entries {
		ino, err := nsInode(filepath.Join(runDir, e.Name()))
		if err != nil {
			continue // an unmounted placeholder file left by `ip netns`
		}
		if _, ok := out[ino]; !ok {
			out[ino] = e.Name()
		}
	}
	return out
}
