package hostfs

import (
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
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
