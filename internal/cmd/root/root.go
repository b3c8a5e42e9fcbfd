// Package root assembles backlogctl's command tree.
package root

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/internal/cmd/advise"
	checkcmd "github.com/backlogctl/backlogctl/internal/cmd/check"
	"github.com/backlogctl/backlogctl/internal/cmd/completion"
	"github.com/backlogctl/backlogctl/internal/cmd/explain"
	"github.com/backlogctl/backlogctl/internal/cmd/exporter"
	"github.com/backlogctl/backlogctl/internal/cmd/inspect"
	"github.com/backlogctl/backlogctl/internal/cmd/rlimit"
	sysctlcmd "github.com/backlogctl/backlogctl/internal/cmd/sysctl"
	tracecmd "github.com/backlogctl/backlogctl/internal/cmd/trace"
	"github.com/backlogctl/backlogctl/internal/cmd/tune"
	"github.com/backlogctl/backlogctl/internal/cmd/version"
	"github.com/backlogctl/backlogctl/internal/cmd/watch"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
)

// NewCmdRoot returns the backlogctl command with every subcommand attached.
func NewCmdRoot(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backlogctl <command> [flags]",
		Short: "Find and fix why TCP connections are dropped before the server accepts them",
		Long: `backlogctl shows, judges and tunes what decides whether a Linux host accepts
TCP connections: each listener's SYN queue and accept queue against its
effective backlog, the kernel tunables that size them (net.core.somaxconn,
net.ipv4.tcp_max_syn_backlog, net.ipv4.tcp_syncookies, ...), the kernel's
overflow and syncookie counters, and the descriptor limits accept() needs.`,
		Example: `  backlogctl inspect
  backlogctl inspect -o json --port 443
  backlogctl help exit-codes`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// our own completion command (documented, with a man page) replaces cobra's
	cmd.CompletionOptions.DisableDefaultCmd = true
	cmd.Version = f.Version
	cmd.SetVersionTemplate(version.Text(version.Build(f)))
	cmd.SetOut(f.IOStreams.Out)
	cmd.SetErr(f.IOStreams.ErrOut)
	cmd.SetFlagErrorFunc(cmdutil.FlagError)
	cmd.AddCommand(inspect.NewCmdInspect(f, nil))
	cmd.AddCommand(explain.NewCmdExplain(f, nil))
	cmd.AddCommand(completion.NewCmdCompletion(f, nil))
	cmd.AddCommand(version.NewCmdVersion(f, nil))
	cmd.AddCommand(tune.NewCmdTune(f, nil))
	cmd.AddCommand(sysctlcmd.NewCmdSysctl(f))
	cmd.AddCommand(checkcmd.NewCmdCheck(f, nil))
	cmd.AddCommand(rlimit.NewCmdRlimit(f, nil))
	cmd.AddCommand(advise.NewCmdAdvise(f, nil))
	cmd.AddCommand(exporter.NewCmdExporter(f, nil))
	cmd.AddCommand(watch.NewCmdWatch(f, nil))
	cmd.AddCommand(tracecmd.NewCmdTrace(f, nil))
	cmd.AddCommand(newHelpTopic("exit-codes", "Exit codes backlogctl returns", cmdutil.ExitCodesHelp))
	cmdutil.CompleteFromHost(cmd, f)
	cmdutil.TidyFlagHelp(cmd)
	cmdutil.RefuseEmptyValues(cmd)
	return cmd
}

// newHelpTopic makes a `backlogctl help TOPIC` page that is not a command.
func newHelpTopic(name, short, text string) *cobra.Command {
	return &cobra.Command{
		Use:     name,
		Short:   short,
		Long:    text,
		Example: fmt.Sprintf("  backlogctl help %s", name),
		Args:    cmdutil.NoArgs,
		Run: func(c *cobra.Command, _ []string) {
			fmt.Fprint(c.OutOrStdout(), text)
		},
	}
}
