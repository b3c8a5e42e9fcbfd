package userfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"github.com/google/renameio/v2"
)

// WriteAtomic replaces path with data: a temporary file in path's own
// directory, fsync, rename. A crash leaves the old file or the new one,
// never half of one, and a temporary file left by a SIGKILL is in that
// directory -- on the same filesystem, named .BASE followed by digits
// (renameio's pattern: ".90-backlogctl.conf5577006791947779410"), which
// sysctl.d and systemd readers ignore -- never in $TMPDIR, where renameio
// puts it when $TMPDIR shares the filesystem. Such leftovers from earlier
// runs are removed first: callers serialise writers of one path (the state
// directory's lock). The mode is perm whatever the umask.
func WriteAtomic(path string, data []byte, perm os.FileMode) error {
	if _, err := CleanTemps(path); err != nil {
		return err
	}
	return renameio.WriteFile(path, data, perm, renameio.WithTempDir(filepath.Dir(path)), renameio.WithStaticPermissions(perm))
}

// CleanTemps removes the temporary files an interrupted WriteAtomic of path
// left in its directory, and returns their names.
func CleanTemps(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	leftover := regexp.MustCompile(`^\.` + regexp.QuoteMeta(base) + `[0-9]+$`)
	entries, err := os.ReadDir(filepath.Clean(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		if !e.Type().IsRegular() || !leftover.MatchString(e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, err
		}
		removed = append(removed, p)
	}
	return removed, nil
}
