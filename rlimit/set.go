package rlimit

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/model"
)

// PermissionError says prlimit(2) was refused.
type PermissionError struct {
	PID int
	Err error
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("not permitted to change the descriptor limits of pid %d: needs CAP_SYS_RESOURCE "+
		"(raising a hard limit always does; otherwise run as the process's user)", e.PID)
}

func (e *PermissionError) Unwrap() error { return e.Err }

// VerifyError says the limits read back after prlimit(2) were not the ones
// set; the previous limits were put back.
type VerifyError struct {
	PID       int
	Want, Got model.Nofile
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("pid %d: set RLIMIT_NOFILE %d:%d but read back %d:%d; restored the previous limits",
		e.PID, e.Want.Soft, e.Want.Hard, e.Got.Soft, e.Got.Hard)
}

// Get returns pid's RLIMIT_NOFILE through prlimit(2).
func Get(pid int) (model.Nofile, error) {
	var old unix.Rlimit
	if err := prlimit(pid, nil, &old); err != nil {
		return model.Nofile{}, err
	}
	return model.Nofile{Soft: old.Cur, Hard: old.Max}, nil
}

// Set sets pid's RLIMIT_NOFILE with prlimit(2), then reads
// roots.Proc/PID/limits back to verify; on a mismatch it restores the previous
// limits and returns a *VerifyError. It returns the previous limits. The
// caller checks want with Check first.
func Set(roots hostfs.Roots, pid int, want model.Nofile) (model.Nofile, error) {
	var old unix.Rlimit
	// prlimit sets soft and hard in one call: there is no half-set state.
	if err := prlimit(pid, &unix.Rlimit{Cur: want.Soft, Max: want.Hard}, &old); err != nil {
		return model.Nofile{}, err
	}
	prev := model.Nofile{Soft: old.Cur, Hard: old.Max}
	got, err := ReadNofile(roots.WithDefaults().Proc, pid)
	if err == nil && got == want {
		return prev, nil
	}
	restoreErr := prlimit(pid, &old, nil)
	if err != nil {
		return prev, errors.Join(fmt.Errorf("reading back the limits of pid %d: %w", pid, err), restoreErr)
	}
	return prev, errors.Join(&VerifyError{PID: pid, Want: want, Got: got}, restoreErr)
}

// prlimit wraps unix.Prlimit with errors that name the process. The caller
// needs the target's uid/gid or CAP_SYS_RESOURCE (check_prlimit_permission),
// and CAP_SYS_RESOURCE to raise a hard limit (do_prlimit).
func prlimit(pid int, set, old *unix.Rlimit) error {
	err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, set, old)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ESRCH):
		return &NoProcessError{PID: pid}
	case errors.Is(err, unix.EPERM):
		return &PermissionError{PID: pid, Err: err}
	case errors.Is(err, unix.EINVAL) && set != nil && set.Cur > set.Max:
		return &SoftAboveHardError{Nofile: model.Nofile{Soft: set.Cur, Hard: set.Max}}
	}
	return fmt.Errorf("prlimit(pid %d, RLIMIT_NOFILE): %w", pid, err)
}
