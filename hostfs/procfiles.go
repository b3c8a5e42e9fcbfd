package hostfs

import (
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ProcessFile reads a file as process pid sees it: an absolute name
// through /proc/PID/root (its mount namespace: a container's own files), a
// relative one through /proc/PID/cwd. shown is the name to report: the
// absolute name, or the relative one under the working directory when that
// can be read.
func (r Roots) ProcessFile(pid int, name string) (text []byte, shown string, err error) {
	dir := filepath.Join(r.WithDefaults().Proc, strconv.Itoa(pid))
	if path.IsAbs(name) {
		text, err = os.ReadFile(filepath.Join(dir, "root", filepath.FromSlash(name)))
		return text, name, err
	}
	shown = name
	if cwd, err := os.Readlink(filepath.Join(dir, "cwd")); err == nil {
		shown = path.Join(cwd, name)
	}
	text, err = os.ReadFile(filepath.Join(dir, "cwd", filepath.FromSlash(name)))
	return text, shown, err
}

// ProcessGlob is filepath.Glob of an absolute pattern as process pid sees
// it (through /proc/PID/root); the names are as the process sees them.
// It is never nil.
func (r Roots) ProcessGlob(pid int, pattern string) []string {
	root := filepath.Join(r.WithDefaults().Proc, strconv.Itoa(pid), "root")
	matches, _ := filepath.Glob(filepath.Join(root, filepath.FromSlash(pattern)))
	out := make([]string, 0, len(matches))
	for _, m := range matches {
		out = append(out, "/"+filepath.ToSlash(strings.TrimPrefix(strings.TrimPrefix(m, root), "/")))
	}
	return out
}

// ProcessFileID is the device (st_dev) and inode of the file name leads to
// as process pid sees it, following symbolic links: an absolute name
// resolved in the process's root (/proc/PID/root, with its own absolute
// links kept inside it), a relative one from its working directory. It is
// how a path the process passed to connect() is matched to the socket file
// a Unix listener was bound to.
func (r Roots) ProcessFileID(pid int, name string) (dev, ino uint64, err error) {
	dir := filepath.Join(r.WithDefaults().Proc, strconv.Itoa(pid))
	base, resolve := filepath.Join(dir, "cwd"), uint64(0)
	if path.IsAbs(name) {
		base, resolve = filepath.Join(dir, "root"), unix.RESOLVE_IN_ROOT
	}
	dfd, err := unix.Open(base, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, 0, &os.PathError{Op: "open", Path: base, Err: err}
	}
	defer unix.Close(dfd)
	fd, err := unix.Openat2(dfd, name, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: resolve})
	if err != nil {
		return 0, 0, &os.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, 0, &os.PathError{Op: "fstat", Path: name, Err: err}
	}
	return st.Dev, st.Ino, nil
}
