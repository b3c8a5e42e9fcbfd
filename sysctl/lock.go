package sysctl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// LockFile is the name of the lock file inside the state directory.
const LockFile = "lock"

// ErrLocked reports that another backlogctl run is changing tunables.
var ErrLocked = errors.New("another backlogctl run is changing tunables")

// Lock is an exclusive flock(2) on the state directory's lock file; it is
// released by Release or when the process exits, however it exits.
type Lock struct {
	f *os.File
}

// AcquireLock takes the lock in dir (created if missing) without waiting. If
// another process holds it the error wraps ErrLocked and names its pid. A
// directory another user could have planted or may write is refused first
// (CheckStateDir, ErrUntrusted).
func AcquireLock(dir string) (*Lock, error) {
	if err := CheckStateDir(dir); err != nil {
		return nil, err
	}
	if err := MkdirMode(dir, 0o755); err != nil {
		return nil, lockError(dir, err)
	}
	path := filepath.Join(dir, LockFile)
	// O_NOFOLLOW: a symlink planted as the lock file must not make root
	// truncate whatever it points to.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return nil, lockError(dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is held%s", ErrLocked, path, holder(f))
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	// The mode is set whatever the umask (open(2) applies it).
	_ = f.Chmod(0o644)
	// The pid is only for the message another run prints; the flock is the lock.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// holder returns " by pid N" from the lock file, or "" if it says nothing useful.
func holder(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil || pid <= 0 {
		return ""
	}
	return fmt.Sprintf(" by pid %d", pid)
}

// Release drops the lock.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// lockError explains a state directory that cannot be used.
func lockError(dir string, err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("taking the lock in %s: %w (changing tunables needs root; see --state-dir)", dir, err)
	}
	return fmt.Errorf("taking the lock in %s: %w", dir, err)
}
