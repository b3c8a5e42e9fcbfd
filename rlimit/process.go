package rlimit

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/model"
)

// NoProcessError says there is no process with this pid.
type NoProcessError struct{ PID int }

func (e *NoProcessError) Error() string { return fmt.Sprintf("no process with pid %d", e.PID) }

// ReadProcess reads pid's comm, RLIMIT_NOFILE, systemd unit and descriptors
// below roots.Proc. A pid with no process returns a *NoProcessError.
// Descriptors it may not read leave OpenFDs nil; that is not an error.
func ReadProcess(roots hostfs.Roots, pid int) (model.ProcessLimits, error) {
	roots = roots.WithDefaults()
	procRoot := roots.Proc
	p := model.ProcessLimits{PID: pid, Ports: []uint16{}}
	n, err := ReadNofile(procRoot, pid)
	if errors.Is(err, fs.ErrNotExist) {
		return model.ProcessLimits{}, &NoProcessError{PID: pid}
	}
	if err != nil {
		return model.ProcessLimits{}, fmt.Errorf("reading the limits of pid %d: %w", pid, err)
	}
	p.Nofile = n
	if comm, err := roots.Comm(pid); err == nil {
		p.Comm = comm
	}
	if unit, err := roots.Unit(pid); err == nil {
		p.Unit = unit
	}
	p.Status = model.StatusUnknown
	if fds, err := roots.Descriptors(pid, n.Soft); err == nil {
		open, inLimit := fds.Open, fds.InLimit()
		p.Status = model.UsageStatus(inLimit, n.Soft)
		p.OpenFDs, p.FDsAboveLimit, p.SocketInodes = &open, fds.AboveLimit, fds.SocketInodes
		if n.Soft > 0 {
			usage := float64(inLimit) / float64(n.Soft)
			p.Usage = &usage
		}
	}
	return p, nil
}
