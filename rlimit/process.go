package rlimit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/backlogctl/backlogctl/hostfs"
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
	// FDsAboveLimit are open descriptors numbered at or above the soft
	// limit: inherited from before it was set (the kernel checks the limit
	// only when it allocates, alloc_fd), they do not use up its room.
	FDsAboveLimit int `json:"fds_above_limit,omitempty"`
	// Usage is (OpenFDs-FDsAboveLimit)/Nofile.Soft: 1 means accept() now
	// fails with EMFILE.
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
// below roots.Proc. A pid with no process returns a *NoProcessError.
// Descriptors it may not read leave OpenFDs nil; that is not an error.
func ReadProcess(roots hostfs.Roots, pid int) (Process, error) {
	roots = roots.WithDefaults()
	procRoot := roots.Proc
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
	if unit, err := roots.Unit(pid); err == nil {
		p.Unit = unit
	}
	p.Status = StatusUnknown
	if fds, err := roots.Descriptors(pid, n.Soft); err == nil {
		open, inLimit := fds.Open, fds.InLimit()
		p.Status = UsageStatus(inLimit, n.Soft)
		p.OpenFDs, p.FDsAboveLimit, p.SocketInodes = &open, fds.AboveLimit, fds.SocketInodes
		if n.Soft > 0 {
			usage := float64(inLimit) / float64(n.Soft)
			p.Usage = &usage
		}
	}
	return p, nil
}
