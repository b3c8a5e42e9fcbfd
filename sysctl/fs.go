package sysctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultRoot is where the kernel exposes its tunables.
const DefaultRoot = "/proc/sys"

// ErrBadKey reports a key name that is not a plain path below the sysctl root.
var ErrBadKey = errors.New("invalid sysctl key")

// FS reads and writes tunables below a root directory (normally /proc/sys;
// a fixture tree in tests).
type FS struct {
	root string
}

// NewFS returns an FS rooted at root; an empty root means /proc/sys.
func NewFS(root string) FS {
	if root == "" {
		root = DefaultRoot
	}
	return FS{root: root}
}

// Root is the directory the FS reads from.
func (fs FS) Root() string { return fs.root }

// KeyPath turns a sysctl name (dotted like sysctl(8), or slash-separated) into
// a relative path, refusing anything that could name a file outside the root.
func KeyPath(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty name", ErrBadKey)
	}
	if i := strings.IndexFunc(name, badKeyRune); i >= 0 {
		r, _ := utf8.DecodeRuneInString(name[i:])
		return "", fmt.Errorf("%w %q: contains %q (whitespace, control characters and '=' are not allowed)", ErrBadKey, name, r)
	}
	rel := name
	if !strings.Contains(name, "/") {
		rel = strings.ReplaceAll(name, ".", "/")
	}
	if strings.HasPrefix(rel, "/") {
		return "", fmt.Errorf("%w %q: absolute paths are not sysctl keys", ErrBadKey, name)
	}
	for _, part := range strings.Split(rel, "/") {
		if part == "" || part == "." || part == ".." {
			return "", fmt.Errorf("%w %q: empty, '.' or '..' component", ErrBadKey, name)
		}
	}
	return rel, nil
}

// badKeyRune reports characters no sysctl name contains: they would break
// `key = value` lines and KEY=VALUE arguments.
func badKeyRune(r rune) bool {
	return r == '=' || unicode.IsSpace(r) || unicode.IsControl(r)
}

// path resolves name to a file inside the root, following symlinks only if the
// result stays inside the root, and refusing directories (net.core is not a
// tunable).
func (fs FS) path(name string) (string, error) {
	rel, err := KeyPath(name)
	if err != nil {
		return "", err
	}
	p := filepath.Join(fs.root, rel)
	resolved, err := filepath.EvalSymlinks(p)
	if err != nil {
		// Absent keys stay absent: the caller tells "not visible here" from broken.
		return "", err
	}
	root, err := filepath.EvalSymlinks(fs.root)
	if err != nil {
		return "", err
	}
	if resolved != root && !strings.HasPrefix(resolved, root+string(os.PathSeparator)) {
		return "", fmt.Errorf("%w %q: resolves outside %s", ErrBadKey, name, fs.root)
	}
	st, err := os.Stat(resolved)
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%w %q: %s is a directory, not a tunable", ErrBadKey, name, rel)
	}
	return resolved, nil
}

// ReadString returns a tunable's value as the kernel prints it, trimmed.
// An absent key returns an error satisfying errors.Is(err, fs.ErrNotExist).
func (fs FS) ReadString(name string) (string, error) {
	p, err := fs.path(name)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", name, err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// ReadInt returns a single-number tunable.
func (fs FS) ReadInt(name string) (int64, error) {
	s, err := fs.ReadString(name)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("reading %s: value %q is not an integer", name, s)
	}
	return v, nil
}

// ReadInts returns a tunable holding several whitespace-separated numbers
// (fs.file-nr).
func (fs FS) ReadInts(name string) ([]int64, error) {
	s, err := fs.ReadString(name)
	if err != nil {
		return nil, err
	}
	fields := strings.Fields(s)
	out := make([]int64, 0, len(fields))
	for _, f := range fields {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("reading %s: value %q is not a list of integers", name, s)
		}
		out = append(out, v)
	}
	return out, nil
}

// Write sets a tunable. The caller validates the value against the registry.
func (fs FS) Write(name, value string) error {
	p, err := fs.path(name)
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if _, err := f.WriteString(value); err != nil {
		f.Close()
		return fmt.Errorf("writing %s=%s: %w", name, value, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s=%s: %w", name, value, err)
	}
	return nil
}

// Values reads every registry key that is visible under the root. Keys that
// are absent here (a global key inside a child network namespace, net.core.*
// in a rootless container on older kernels) are left out of the map; other
// failures are returned per key so the caller can report them.
func (fs FS) Values() (map[string]int64, map[string]error) {
	vals := make(map[string]int64, len(Registry))
	var errs map[string]error
	for _, k := range Registry {
		v, err := fs.ReadInt(k.Name)
		switch {
		case err == nil:
			vals[k.Name] = v
		case errors.Is(err, os.ErrNotExist):
		default:
			if errs == nil {
				errs = map[string]error{}
			}
			errs[k.Name] = err
		}
	}
	return vals, errs
}
