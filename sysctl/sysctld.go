package sysctl

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/backlogctl/backlogctl/internal/userfile"
)

// ConfSearch is where boot-time settings are read from.
type ConfSearch struct {
	// Dirs are the sysctl.d directories, highest priority first: for the same
	// file name, the first directory's file is the one read.
	Dirs []string
	// Conf is read after every sysctl.d file by procps `sysctl --system`
	// (systemd-sysctl reads it only through the 99-sysctl.conf link); "" for none.
	Conf string
}

// DefaultConfSearch is the search order of systemd-sysctl(8) and procps
// sysctl --system.
func DefaultConfSearch() ConfSearch {
	return ConfSearch{
		Dirs: []string{"/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d"},
		Conf: "/etc/sysctl.conf",
	}
}

// LoadOrder lists the files read at boot, in the order they are applied (a
// later file's value wins): *.conf files from every directory sorted by file
// name, the earlier directory's file winning for the same name, then Conf.
// extra, if it is in one of the directories, is included as if it existed.
func (s ConfSearch) LoadOrder(extra string) ([]string, error) {
	byName := map[string]string{}
	for _, dir := range s.Dirs {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", dir, err)
		}
		for _, e := range entries {
			name := e.Name()
			if !strings.HasSuffix(name, ".conf") || e.IsDir() {
				continue
			}
			if _, seen := byName[name]; !seen {
				byName[name] = filepath.Join(dir, name)
			}
		}
		if extra != "" && sameDir(filepath.Dir(extra), dir) {
			if _, seen := byName[filepath.Base(extra)]; !seen {
				byName[filepath.Base(extra)] = extra
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	order := make([]string, 0, len(names)+1)
	for _, n := range names {
		order = append(order, byName[n])
	}
	if s.Conf != "" {
		if _, err := os.Stat(s.Conf); err == nil {
			order = append(order, s.Conf)
		}
	}
	return order, nil
}

func sameDir(a, b string) bool {
	return filepath.Clean(a) == filepath.Clean(b)
}

// Override is a later boot-time file that sets a key the persisted file sets:
// its value is the one the host gets after a reboot.
type Override struct {
	Key   string `json:"key"`
	File  string `json:"file"`
	Line  int    `json:"line"`
	Value string `json:"value"`
}

// String says which file and line wins, with its value.
func (o Override) String() string {
	return fmt.Sprintf("%s:%d sets %s = %s and is read later, so it wins at boot", o.File, o.Line, o.Key, o.Value)
}

// PersistCheck says whether a persisted file will take effect at boot.
type PersistCheck struct {
	// OutsideSearch: the file is in none of the directories, so nothing reads it at boot.
	OutsideSearch bool `json:"outside_search,omitempty"`
	// MaskedBy is a file of the same name in an earlier directory, read instead.
	MaskedBy string `json:"masked_by,omitempty"`
	// Overrides are later files setting the same keys.
	Overrides []Override `json:"overrides,omitempty"`
}

// Warnings renders the check as one line each.
func (c PersistCheck) Warnings(file string) []string {
	var out []string
	if c.OutsideSearch {
		out = append(out, fmt.Sprintf("%s is not in a sysctl.d directory: nothing reads it at boot", file))
	}
	if c.MaskedBy != "" {
		out = append(out, fmt.Sprintf("%s has the same name as %s, which is read instead of it at boot", file, c.MaskedBy))
	}
	for _, o := range c.Overrides {
		out = append(out, o.String())
	}
	return out
}

// Check finds what would stop file's settings of keys from holding after a
// reboot.
func (s ConfSearch) Check(file string, keys []string) (PersistCheck, error) {
	var c PersistCheck
	inSearch := false
	for _, d := range s.Dirs {
		if sameDir(filepath.Dir(file), d) {
			inSearch = true
		}
	}
	if !inSearch {
		c.OutsideSearch = true
		return c, nil
	}
	order, err := s.LoadOrder(file)
	if err != nil {
		return c, err
	}
	pos := -1
	for i, f := range order {
		if f == filepath.Clean(file) || f == file {
			pos = i
		} else if filepath.Base(f) == filepath.Base(file) && f != s.Conf {
			c.MaskedBy = f
			pos = i
		}
	}
	if pos < 0 {
		c.OutsideSearch = true
		return c, nil
	}
	seen := map[string]bool{}
	for _, f := range order[pos+1:] {
		real, err := filepath.EvalSymlinks(f)
		if err != nil {
			real = f
		}
		if seen[real] {
			continue // /etc/sysctl.d/99-sysctl.conf is usually a link to /etc/sysctl.conf
		}
		seen[real] = true
		c.Overrides = append(c.Overrides, overridesIn(f, keys)...)
	}
	return c, nil
}

// overridesIn lists the assignments in f that set any of keys; an unreadable
// file (or a FIFO, device or oversized file) counts as setting nothing.
func overridesIn(f string, keys []string) []Override {
	b, err := userfile.Read(f, MaxConfSize)
	if err != nil {
		return nil
	}
	as, _ := ParseConf(bytes.NewReader(b))
	var out []Override
	for _, a := range as {
		for _, k := range keys {
			if ConfKeyMatches(a.Key, k) {
				out = append(out, Override{Key: k, File: f, Line: a.Line, Value: a.Value})
			}
		}
	}
	return out
}
