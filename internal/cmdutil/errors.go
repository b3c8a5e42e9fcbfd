// Package cmdutil holds what every command shares: the factory of
// dependencies, the error types that decide exit codes, and flag helpers.
package cmdutil

import (
	"errors"
	"fmt"
	"io/fs"
)

// Exit codes, documented by `backlogctl help exit-codes`.
const (
	// ExitOK: everything asked for was done (advise exits 0 even with findings).
	ExitOK = 0
	// ExitFailed: a check requirement did not hold.
	ExitFailed = 1
	// ExitUsage: bad flags, arguments or values; nothing was changed.
	ExitUsage = 2
	// ExitEnv: what was asked could not be read or written here (permission,
	// a key absent in this kernel or namespace, a failed write that was rolled back).
	ExitEnv = 3
)

// ExitError carries the exit code an error should end the program with.
type ExitError struct {
	Code int
	Err  error
	// Silent errors end the program with Code but print nothing: the
	// command has already said what happened, or was asked to be quiet.
	Silent bool
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// UsageErrorf reports bad input: exit 2.
func UsageErrorf(format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// EnvError reports that the host did not let us do what was asked: exit 3.
func EnvError(err error) error {
	if err == nil {
		return nil
	}
	return &ExitError{Code: ExitEnv, Err: err}
}

// ErrSilentFailure ends the program with exit 1 without printing anything more;
// the command has already said what failed.
var ErrSilentFailure = &ExitError{Code: ExitFailed, Err: errors.New("requirements not met"), Silent: true}

// Silence marks err so that it sets the exit code without being printed.
func Silence(err error) error {
	var ee *ExitError
	if errors.As(err, &ee) {
		return &ExitError{Code: ee.Code, Err: ee.Err, Silent: true}
	}
	return &ExitError{Code: ExitCode(err), Err: err, Silent: true}
}

// ExitCode maps an error to the program's exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ie *InterruptedError
	if errors.As(err, &ie) {
		return ie.ExitCode()
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrNotExist) {
		return ExitEnv
	}
	// Anything else is a failure to read or act on the host.
	return ExitEnv
}

// ExitCodesHelp is the text of `backlogctl help exit-codes`.
const ExitCodesHelp = `backlogctl exits with:
  0  success (advise exits 0 even when it has findings)
  1  check: at least one requirement did not hold; rlimit: a process is at
     its soft RLIMIT_NOFILE (accept() fails with EMFILE)
  2  usage error: unknown command or flag, bad or empty value (--netns ""
     is refused, not read as the caller's namespace), malformed key,
     expression or policy; nothing on the host was changed
  3  could not read or change what was asked: permission denied, a key absent
     in this kernel or network namespace, a write that failed and was rolled back
  130  SIGINT (Ctrl-C) arrived while tune --apply or sysctl set was writing:
     it waited for the write in progress, then every value written was
     restored and the record says so (tune --rollback finishes restoring,
     then exits so)
  143  the same for SIGTERM
  129  the same for SIGHUP
`
