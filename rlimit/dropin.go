package rlimit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/internal/userfile"
	"github.com/backlogctl/backlogctl/model"
)

// SystemdDir is where administrators' unit drop-ins live.
const SystemdDir = "/etc/systemd/system"

// DropInName is the file backlogctl writes inside UNIT.d/. systemd reads
// drop-ins in name order and later ones win, so `systemctl edit`'s
// override.conf still takes precedence.
const DropInName = "90-backlogctl-nofile.conf"

// unitTypes are systemd's unit suffixes other than .service; LimitNOFILE= in
// a [Service] section belongs to services only.
var unitTypes = []string{".socket", ".device", ".mount", ".automount", ".swap",
	".target", ".path", ".timer", ".slice", ".scope"}

// UnitName validates a service name and adds ".service" when it has no
// suffix. It refuses anything that could name a path outside the drop-in
// directory.
func UnitName(name string) (string, error) {
	switch {
	case name == "":
		return "", fmt.Errorf("unit name is empty")
	case strings.Contains(name, "/"):
		return "", fmt.Errorf("unit name %q contains '/': give a name like nginx.service, not a path", name)
	case strings.Contains(name, ".."):
		return "", fmt.Errorf("unit name %q contains '..'", name)
	case len(name) > 255:
		return "", fmt.Errorf("unit name is longer than 255 characters")
	}
	for _, c := range name {
		// systemd's unit name alphabet (unit_name_is_valid).
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(":-_.\\@", c)) {
			return "", fmt.Errorf("unit name %q contains %q: systemd allows letters, digits and :-_.\\@", name, c)
		}
	}
	if strings.HasSuffix(name, ".service") {
		if name == ".service" || strings.HasPrefix(name, ".") {
			return "", fmt.Errorf("unit name %q has no name before .service", name)
		}
		return name, nil
	}
	for _, t := range unitTypes {
		if strings.HasSuffix(name, t) {
			return "", fmt.Errorf("unit %q is not a service: LimitNOFILE= goes in a .service unit", name)
		}
	}
	if strings.HasPrefix(name, ".") {
		return "", fmt.Errorf("unit name %q starts with '.'", name)
	}
	return name + ".service", nil
}

// DropIn is the text of a drop-in that sets a service's RLIMIT_NOFILE.
func DropIn(n model.Nofile) string {
	return fmt.Sprintf("[Service]\nLimitNOFILE=%s\n", n)
}

// DropInPath is where WriteDropIn puts unit's drop-in below dir.
func DropInPath(dir, unit string) string {
	return filepath.Join(dir, unit+".d", DropInName)
}

// WriteDropIn installs unit's drop-in below dir (normally SystemdDir)
// atomically: readers see the old file or the new one, never a partial one.
// unit must have passed UnitName. It returns the file's path.
//
// A UNIT.d that is a symlink is refused: one planted there would make root
// write into whatever directory it points to. The directory (when created)
// is 0755 and the file 0644 whatever the umask, so systemd and operators can
// read them.
func WriteDropIn(dir, unit string, n model.Nofile) (string, error) {
	p := DropInPath(dir, unit)
	unitDir := filepath.Dir(p)
	fi, statErr := os.Lstat(unitDir)
	switch {
	case statErr == nil && fi.Mode()&fs.ModeSymlink != 0:
		return "", fmt.Errorf("refusing to write %s: %s is a symlink (a drop-in directory must be a real directory)", p, unitDir)
	case statErr == nil && !fi.IsDir():
		return "", fmt.Errorf("creating %s: %s exists and is not a directory", p, unitDir)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		err := os.Mkdir(unitDir, 0o755)
		if errors.Is(err, fs.ErrExist) {
			// Another writer made it meanwhile: it must be a real directory.
			if fi, err := os.Lstat(unitDir); err != nil || !fi.IsDir() {
				return "", fmt.Errorf("creating %s: it appeared meanwhile and is not a directory", unitDir)
			}
			statErr, err = nil, nil
		}
		if err != nil {
			return "", fmt.Errorf("creating %s: %w", unitDir, err)
		}
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		if err := os.Chmod(unitDir, 0o755); err != nil {
			os.Remove(unitDir)
			return "", fmt.Errorf("creating %s: %w", unitDir, err)
		}
	}
	// Writers of one unit's drop-in take turns (an flock on its directory):
	// WriteAtomic first removes an interrupted write's temporary file, which
	// must never be another writer's, still being written.
	unlock, err := lockDir(unitDir)
	if err != nil {
		return "", fmt.Errorf("writing %s: %w", p, err)
	}
	defer unlock()
	if err := userfile.WriteAtomic(p, []byte(DropIn(n)), 0o644); err != nil {
		if errors.Is(statErr, fs.ErrNotExist) {
			os.Remove(unitDir) // leave no empty UNIT.d behind
		}
		return "", fmt.Errorf("writing %s: %w", p, err)
	}
	return p, nil
}

// lockDir takes an exclusive flock on dir, held until unlock.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return func() { f.Close() }, nil // closing releases the lock
}
