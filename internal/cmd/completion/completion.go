// Package completion is the `backlogctl completion` command.
package completion

import (
	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
)

// Options are completion's inputs.
type Options struct {
	IO    *iostreams.IOStreams
	Shell string
}

var shells = []string{"bash", "zsh", "fish"}

// NewCmdCompletion returns the completion command. runF replaces completionRun in tests.
func NewCmdCompletion(f *cmdutil.Factory, runF func(*Options, *cobra.Command) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print the shell completion script for bash, zsh or fish",
		Long: `Print a script that makes the shell complete backlogctl's commands, flags
and values: sysctl keys and their aliases (somaxconn), profiles, explain
topics and counters, output formats. Completion asks the backlogctl binary
itself, so it stays right after an upgrade.

The deb and rpm packages install these scripts; from source, load one as
shown below. The bash script works with or without the bash-completion
package (which is what loads scripts from /etc/bash_completion.d in every
new shell; without it, source the script from ~/.bashrc).

Besides commands and flags it completes what exists on this host: --netns
names (under /run/netns), --port from the live TCP listeners, --path from
the Unix ones, --pid and --process from their owners, --systemd-unit from
the units those owners run in; sysctl keys (sysctl get, sysctl set, tune
--set), check --require subjects, explain topics, profiles and -o formats.`,
		Example: `  # bash, for this shell
  source <(backlogctl completion bash)

  # bash, for every shell (needs the bash-completion package)
  backlogctl completion bash > /etc/bash_completion.d/backlogctl

  # bash, without the bash-completion package
  echo 'source <(backlogctl completion bash)' >> ~/.bashrc

  # zsh
  backlogctl completion zsh > "${fpath[1]}/_backlogctl"

  # fish
  backlogctl completion fish > ~/.config/fish/completions/backlogctl.fish`,
		ValidArgs: shells,
		Args:      cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return cmdutil.UsageErrorf("completion needs one shell: bash, zsh or fish")
			}
			opts.Shell = args[0]
			if runF != nil {
				return runF(opts, c.Root())
			}
			return completionRun(opts, c.Root())
		},
	}
	return cmd
}

func completionRun(o *Options, root *cobra.Command) error {
	switch o.Shell {
	case "bash":
		return writeBash(o.IO.Out, root)
	case "zsh":
		return root.GenZshCompletion(o.IO.Out)
	case "fish":
		return root.GenFishCompletion(o.IO.Out, true)
	default:
		return cmdutil.UsageErrorf("unsupported shell %q: want bash, zsh or fish", o.Shell)
	}
}
