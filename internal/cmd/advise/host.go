package advise

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/procfs"
)

// HostReader reads what advise needs beyond an inspect snapshot.
type HostReader interface {
	// SoftnetDropped sums /proc/net/softnet_stat column 2 over CPUs.
	SoftnetDropped(procRoot string) (uint64, error)
	// Unit is the systemd unit pid runs in ("nginx.service"), or "".
	Unit(procRoot string, pid int) (string, error)
	// MemTotal is the host's memory in bytes.
	MemTotal(procRoot string) (uint64, error)
}

// procHost reads them from a procfs tree.
type procHost struct{}

func (procHost) SoftnetDropped(procRoot string) (uint64, error) {
	pfs, err := procfs.NewFS(procRoot)
	if err != nil {
		return 0, err
	}
	stats, err := pfs.NetSoftnetStat()
	if err != nil {
		return 0, err
	}
	var dropped uint64
	for _, s := range stats {
		dropped += uint64(s.Dropped)
	}
	return dropped, nil
}

func (procHost) MemTotal(procRoot string) (uint64, error) {
	pfs, err := procfs.NewFS(procRoot)
	if err != nil {
		return 0, err
	}
	m, err := pfs.Meminfo()
	if err != nil {
		return 0, err
	}
	if m.MemTotalBytes == nil {
		return 0, errors.New("meminfo has no MemTotal")
	}
	return *m.MemTotalBytes, nil
}

func (procHost) Unit(procRoot string, pid int) (string, error) {
	f, err := os.Open(filepath.Join(procRoot, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	return parseUnit(f)
}

// parseUnit finds the systemd service in a /proc/PID/cgroup file: the last
// path component ending in ".service", preferring the unified (v2) line
// "0::/system.slice/nginx.service" and the v1 "name=systemd" hierarchy.
func parseUnit(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	unit := ""
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if !(parts[0] == "0" && parts[1] == "") && parts[1] != "name=systemd" {
			continue
		}
		if u := serviceIn(parts[2]); u != "" {
			unit = u
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("reading cgroup: %w", err)
	}
	return unit, nil
}

// serviceIn returns the innermost NAME.service component of a cgroup path.
func serviceIn(cgroup string) string {
	for p := path.Clean(cgroup); p != "/" && p != "."; p = path.Dir(p) {
		if base := path.Base(p); strings.HasSuffix(base, ".service") {
			return base
		}
	}
	return ""
}
