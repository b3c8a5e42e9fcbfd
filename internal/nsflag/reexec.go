package nsflag

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

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

// RunInside runs this same command line again, less --netns, inside the
// namespace --netns names, through nsenter(1), and returns its exit status.
// Writes use it rather than a thread that entered the namespace: the record
// of what changed carries the namespace's inode, read from /proc/self, which
// follows the thread-group leader, and every thread of the inner run is in
// the namespace from its start.
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
	cmd := exec.Command(nsenter, append([]string{"--net=" + nss[0].Path, "--", self}, withoutNetns(os.Args[1:])...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.Env = append(os.Environ(), EnvInside+"="+f.Netns)
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		// The inner run has said what happened.
		return cmdutil.Silence(&cmdutil.ExitError{Code: ee.ExitCode(), Err: err})
	}
	if err != nil {
		return cmdutil.EnvError(fmt.Errorf("--netns %s: %w", f.Netns, err))
	}
	return nil
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
