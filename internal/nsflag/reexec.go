package nsflag

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
)

// EnvInside is set, to the --netns value, in the environment of the run
// RunInside starts inside the namespace: that inner run knows it writes for
// one chosen namespace, where only per-netns keys may be written.
const EnvInside = "BACKLOGCTL_NETNS_INSIDE"

// Inside returns the --netns value of the outer run when this run is the one
// RunInside started inside that namespace.
func Inside() (string, bool) {
	v := os.Getenv(EnvInside)
	return v, v != ""
}

// forwarded are the signals the outer run passes on to the inner one: those
// the inner run's write phase defers (cmdutil.DeferSignals).
var forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// RunInside runs this same command line again, less --netns, inside the
// namespace --netns names, through nsenter(1), and returns its exit status.
// Writes use it rather than a thread that entered the namespace: the record
// of what changed carries the namespace's inode, read from /proc/self, which
// follows the thread-group leader, and every thread of the inner run is in
// the namespace from its start.
//
// SIGINT, SIGTERM and SIGHUP are passed on to the inner run, which decides
// what they mean (during its writes: restore, then exit 128+signal); this
// run waits for it and exits as it did, so the status never says more or
// less than what the inner run did.
func (f Flags) RunInside(roots hostfs.Roots, stdin io.Reader, stdout, stderr io.Writer) error {
	nss, _, err := f.Namespaces(roots)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return cmdutil.EnvError(fmt.Errorf("--netns: finding this program: %w", err))
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return cmdutil.EnvError(fmt.Errorf("--netns needs nsenter(1) (util-linux): %w", err))
	}
	// nsenter without --fork execs the program: the pid signalled below is
	// the inner run itself.
	cmd := exec.Command(nsenter, append([]string{"--net=" + nss[0].Path, "--", self}, withoutNetns(os.Args[1:])...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.Env = append(os.Environ(), EnvInside+"="+f.Netns)
	// From before the start: a signal arriving meanwhile is held, then passed on.
	sigs := make(chan os.Signal, len(forwarded)*2)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return cmdutil.EnvError(fmt.Errorf("--netns %s: %w", f.Netns, err))
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
		case err := <-done:
			return innerExit(f.Netns, err)
		}
	}
}

// innerExit turns the inner run's end into this run's: its exit code, or
// 128+signal when a signal ended it, as a shell reports a killed command.
// The inner run has said what happened; nothing more is printed.
func innerExit(netns string, err error) error {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		if err != nil {
			return cmdutil.EnvError(fmt.Errorf("--netns %s: %w", netns, err))
		}
		return nil
	}
	code := ee.ExitCode()
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	return cmdutil.Silence(&cmdutil.ExitError{Code: code, Err: err})
}

// withoutNetns drops "--netns X" and "--netns=X" from args.
func withoutNetns(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "--":
			return append(out, args[i:]...)
		case args[i] == "--netns":
			i++
		case strings.HasPrefix(args[i], "--netns="):
		default:
			out = append(out, args[i])
		}
	}
	return out
}
