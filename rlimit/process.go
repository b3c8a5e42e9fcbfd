package rlimit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Process is one process's descriptor limit and usage.
type Process struct {
	PID  int    `json:"pid"`
	Comm string `json:"comm"`
	// Unit is the systemd service the process runs in ("" when none): where
	// LimitNOFILE= belongs to make a limit survive a restart.
	Unit string `json:"unit"`
	// Ports are the TCP ports of the listeners the process holds.
	Ports  []uint16 `json:"ports"`
	Nofile Nofile   `json:"nofile"`
	// OpenFDs is nil when /proc/PID/fd is not readable (it needs ptrace access).
	OpenFDs *int `json:"open_fds"`
	// Usage is OpenFDs/Nofile.Soft: 1 means accept() now fails with EMFILE.
	Usage *float64 `json:"usage"`
	// Status judges Usage (UsageStatus): ok, near (within NearMargin of the
	// soft limit), at-limit, or unknown when OpenFDs is nil.
	Status string `json:"status"`
	// SocketInodes are the inodes of every socket the process holds, for
	// matching it to listeners.
	SocketInodes []uint32 `json:"-"`
}

// NoProcessError says there is no process with this pid.
type NoProcessError struct{ PID int }

func (e *NoProcessError) Error() string { return fmt.Sprintf("no process with pid %d", e.PID) }

// ReadProcess reads pid's comm, RLIMIT_NOFILE, systemd unit and descriptors
// below procRoot. A pid with no process returns a *NoProcessError. Descriptors
// it may not read leave OpenFDs nil; that is not an error.
func ReadProcess(procRoot string, pid int) (Process, error) {
	p := Process{PID: pid, Ports: []uint16{}}
	n, err := ReadNofile(procRoot, pid)
	if errors.Is(err, fs.ErrNotExist) {
		return Process{}, &NoProcessError{PID: pid}
	}
	if err != nil {
		return Process{}, fmt.Errorf("reading the limits of pid %d: %w", pid, err)
	}
	p.Nofile = n
	if b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "comm")); err == nil {
		p.Comm = strings.TrimSuffix(string(b), "\n")
	}
	if unit, err := ReadUnit(procRoot, pid); err == nil {
		p.Unit = unit
	}
	p.Status = StatusUnknown
	if open, inodes, err := readFDs(filepath.Join(procRoot, strconv.Itoa(pid), "fd")); err == nil {
		p.Status = UsageStatus(open, n.Soft)
		p.OpenFDs, p.SocketInodes = &open, inodes
		if n.Soft > 0 {
			usage := float64(open) / float64(n.Soft)
			p.Usage = &usage
		}
	}
	return p, nil
}

// readFDs counts the entries of a /proc/PID/fd directory and collects the
// inodes of its sockets (links of the form "socket:[INODE]").
func readFDs(dir string) (int, []uint32, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, nil, err
	}
	var inodes []uint32
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed since the directory was read
		}
		digits, ok := strings.CutPrefix(target, "socket:[")
		if !ok {
			continue
		}
		if ino, err := strconv.ParseUint(strings.TrimSuffix(digits, "]"), 10, 32); err == nil {
			inodes = append(inodes, uint32(ino))
		}
	}
	return len(entries), inodes, nil
}
