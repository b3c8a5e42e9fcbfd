package root

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/backlogctl/backlogctl/internal/cmdutil"
)

// Every flag that takes a value refuses an empty one with exit 2 and a line
// naming it, on every command: `--netns "$NS"` with NS unset must not quietly
// mean the caller's namespace, nor `--state-dir ""` the working directory.
// The check comes before the command's own argument check and runs nothing.
func TestEmptyFlagValuesAreUsageErrors(t *testing.T) {
	n := 0
	eachCommand(t, func(args []string, c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Value.Type() == "bool" || f.Name == "help" {
				return
			}
			n++
			argv := append(append([]string{}, args...), "--"+f.Name+"=")
			_, stderr, err := run(t, argv...)
			if code := cmdutil.ExitCode(err); code != cmdutil.ExitUsage {
				t.Errorf("backlogctl %s: exit %d (%v), want 2", strings.Join(argv, " "), code, err)
				return
			}
			if msg := err.Error(); !strings.Contains(msg, "--"+f.Name) || strings.Contains(msg, "\n") {
				t.Errorf("backlogctl %s: %q does not name --%s in one line", strings.Join(argv, " "), msg, f.Name)
			}
			if stderr != "" {
				t.Errorf("backlogctl %s printed %q before refusing", strings.Join(argv, " "), stderr)
			}
		})
	})
	if n < 20 {
		t.Errorf("checked %d flags; the tree looks empty", n)
	}
}
