package sysctl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrUntrusted reports a state directory or file that someone other than the
// caller (or root) owns or may write: what it says must not steer a run that
// writes as root.
var ErrUntrusted = errors.New("refusing to trust")

// CheckStateDir refuses a state directory that another user could have
// planted or could change, as sshd (StrictModes) and sudo refuse loose
// permissions: the directory, and every directory above it, must be owned by
// root or the caller and not be writable by group or others -- except a
// sticky directory (/tmp, a tmpfs mount), where no one else can rename or
// remove what the caller owns. The directory must not be a symlink; a
// missing one is fine (it will be created, the caller's). The record and the
// lock inside it, where they exist, must be regular files owned by root or
// the caller and not writable by group or others.
func CheckStateDir(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	st, err := os.Lstat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return checkAncestors(filepath.Dir(abs))
	case err != nil:
		return err
	case st.Mode()&fs.ModeSymlink != 0:
		return untrusted(abs, "it is a symlink (give the directory it points to)")
	case !st.IsDir():
		return fmt.Errorf("%s is not a directory", abs)
	}
	if err := checkOwner(abs, st); err != nil {
		return err
	}
	if err := checkAncestors(filepath.Dir(abs)); err != nil {
		return err
	}
	for _, name := range []string{StateFile, LockFile} {
		p := filepath.Join(abs, name)
		st, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return untrusted(p, "it is not a regular file")
		}
		if err := checkOwner(p, st); err != nil {
			return err
		}
	}
	return nil
}

// checkAncestors checks dir and every directory above it.
func checkAncestors(dir string) error {
	for {
		st, err := os.Stat(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err == nil {
			if err := checkOwner(dir, st); err != nil {
				return err
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

// checkOwner refuses st (of path) when neither root nor the caller owns it,
// or group or others may write it (a directory unless it is sticky).
func checkOwner(path string, st fs.FileInfo) error {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := int(sys.Uid); uid != 0 && uid != os.Geteuid() {
		return untrusted(path, fmt.Sprintf("it is owned by uid %d, neither root nor you (uid %d)", uid, os.Geteuid()))
	}
	if st.Mode().Perm()&0o022 != 0 && !(st.IsDir() && st.Mode()&fs.ModeSticky != 0) {
		return untrusted(path, fmt.Sprintf("group or others may write it (mode %04o)", st.Mode().Perm()))
	}
	return nil
}

func untrusted(path, why string) error {
	return fmt.Errorf("%w %s: %s; another user could have planted or changed what backlogctl reads there (chown it to root and chmod go-w, or choose another --state-dir)", ErrUntrusted, path, why)
}
