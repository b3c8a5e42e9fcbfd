package completion

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
)

func TestCompletionScripts(t *testing.T) {
	tests := []struct{ shell, want string }{
		{"bash", "complete -o default -F __start_backlogctl backlogctl"},
		{"zsh", "#compdef backlogctl"},
		{"fish", "complete -c backlogctl"},
	}
	for _, tt := range tests {
		ios, _, out, _ := iostreams.Test()
		root := &cobra.Command{Use: "backlogctl"}
		root.AddCommand(NewCmdCompletion(&cmdutil.Factory{IOStreams: ios}, nil))
		root.SetArgs([]string{"completion", tt.shell})
		if err := root.Execute(); err != nil {
			t.Fatalf("%s: %v", tt.shell, err)
		}
		if !strings.Contains(out.String(), tt.want) {
			t.Errorf("completion %s lacks %q", tt.shell, tt.want)
		}
	}
}

func TestCompletionBadShell(t *testing.T) {
	for _, args := range [][]string{{"completion", "tcsh"}, {"completion"}, {"completion", "bash", "zsh"}} {
		ios, _, out, _ := iostreams.Test()
		root := &cobra.Command{Use: "backlogctl", SilenceErrors: true, SilenceUsage: true}
		root.AddCommand(NewCmdCompletion(&cmdutil.Factory{IOStreams: ios}, nil))
		root.SetArgs(args)
		err := root.Execute()
		if code := cmdutil.ExitCode(err); code != cmdutil.ExitUsage {
			t.Errorf("%q: exit %d (%v), want %d", args, code, err, cmdutil.ExitUsage)
		}
		if out.Len() != 0 {
			t.Errorf("%q printed a script on error", args)
		}
	}
}
