package tune

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/nsflag"
)

// checkNamespaces refuses --all-netns: tune writes, records and rolls back
// one network namespace's values, so a run names the one it changes.
func checkNamespaces(f nsflag.Flags) error {
	if err := f.Validate(); err != nil {
		return err
	}
	if f.All {
		return cmdutil.UsageErrorf("tune plans and writes one network namespace at a time: --all-netns is refused (give --netns NAME for each)")
	}
	return nil
}

// runIn runs this same tune command again inside the --netns namespace,
// whole: the snapshot, the plan, the writes, the record of what changed (it
// carries the namespace's inode) and a rollback all belong to it, which a
// thread that entered it alone could not promise (/proc/self/net follows
// the thread-group leader). nsenter(1) enters it before the program starts.
func runIn(o *Options, f nsflag.Flags) error {
	nss, _, err := f.Namespaces(o.ProcRoot)
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
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.IO.In, o.IO.Out, o.IO.ErrOut
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
