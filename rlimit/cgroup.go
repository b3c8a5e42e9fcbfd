package rlimit

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ReadUnit returns the systemd service pid runs in, from procRoot/PID/cgroup,
// or "" when it is not in one (a login session, a container scope, PID 1).
func ReadUnit(procRoot string, pid int) (string, error) {
	f, err := os.Open(filepath.Join(procRoot, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	return ParseUnit(f)
}

// ParseUnit reads a /proc/PID/cgroup file and returns the systemd service whose
// cgroup holds the process: the last path component when it ends in
// ".service". On cgroup v1 systemd's own hierarchy ("N:name=systemd:PATH") is
// used; on v2 the unified line ("0::PATH"). Other v1 controllers are ignored:
// their paths need not follow systemd's units.
func ParseUnit(r io.Reader) (string, error) {
	var systemdPath, unifiedPath string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path; the path may contain ':'.
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[1] == "name=systemd":
			systemdPath = parts[2]
		case parts[0] == "0" && parts[1] == "":
			unifiedPath = parts[2]
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	path := systemdPath
	if path == "" {
		path = unifiedPath
	}
	return serviceOf(path), nil
}

// serviceOf returns the last component of a cgroup path if it names a service.
func serviceOf(path string) string {
	last := path[strings.LastIndexByte(path, '/')+1:]
	if name, ok := strings.CutSuffix(last, ".service"); ok && name != "" {
		return last
	}
	return ""
}
