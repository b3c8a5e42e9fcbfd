// Package explain is the `backlogctl explain` command.
package explain

import (
	"strings"

	"github.com/backlogctl/backlogctl/internal/suggest"

	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/explain"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
)

// Options are explain's inputs; tests fill them and call explainRun directly.
type Options struct {
	IO *iostreams.IOStreams
	// Topic is empty for the list of topics.
	Topic  string
	Output string
}

var formats = []string{"table", "json"}

// NewCmdExplain returns the explain command. runF replaces explainRun in tests.
func NewCmdExplain(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "explain [KEY|COUNTER|TOPIC]",
		Short: "Explain a tunable, a counter or how the kernel queues connections",
		Long: `Explain what decides whether Linux accepts a TCP connection, at the terminal:

  topics    backlog, syn-queue, accept-queue, syncookies, counters, descriptors
  profiles  what each built-in profile of tune --profile and check --profile
            sets: every key, its value, and whether it is raised to at least
            that value or set to exactly it
  tunables  every sysctl backlogctl knows, by name or alias (somaxconn,
            net.ipv4.tcp_max_syn_backlog, ...): what it does, its scope, type,
            range and default, how it interacts with the others, and which
            counters show its limit being hit
  counters  each kernel counter, by its nstat name (TcpExtListenOverflows, or
            ListenOverflows): what increments it and what to do about it

Each explanation also lists the folklore the kernel contradicts. Without an
argument, lists every topic. The same text is in the backlogctl-kernel(7)
man page.

Exit status: 0 on success, 2 for an unknown topic.`,
		Example: `  # what can be explained
  backlogctl explain

  # does raising tcp_max_syn_backlog help?
  backlogctl explain tcp_max_syn_backlog

  # what does this counter rising mean?
  backlogctl explain TcpExtListenOverflows

  # what would tune --profile high-concurrency change?
  backlogctl explain profiles

  # for a script
  backlogctl explain syn-queue -o json | jq -r '.text[]'`,
		Args: cmdutil.MaximumArgs(1, "topic"),
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return CompleteTopics(c, args, toComplete)
		},
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Topic = args[0]
			}
			if err := cmdutil.CheckOutput(opts.Output, formats...); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return explainRun(opts)
		},
	}
	cmdutil.AddTableOutputFlag(cmd, opts.IO, &opts.Output, formats...)
	return cmd
}

// CompleteTopics completes every name explain accepts, with its summary.
func CompleteTopics(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	var out []string
	if cmdutil.MatchesCompletion(profilesTopic, toComplete) {
		out = append(out, profilesTopic+"\t"+profilesSummary)
	}
	for _, name := range explain.Names() {
		if !cmdutil.MatchesCompletion(name, toComplete) {
			continue
		}
		t, _ := explain.Lookup(name)
		out = append(out, name+"\t"+t.Summary)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

func explainRun(o *Options) error {
	if o.Topic == "" {
		entries := listEntries(explain.All())
		if o.Output == cmdutil.OutputJSON {
			return cmdutil.PrintData(o.IO, entries)
		}
		return renderList(o.IO, entries)
	}
	if strings.EqualFold(strings.TrimSpace(o.Topic), profilesTopic) {
		if o.Output == cmdutil.OutputJSON {
			return cmdutil.PrintData(o.IO, profileEntries())
		}
		return renderProfiles(o.IO, profileEntries())
	}
	t, ok := explain.Lookup(o.Topic)
	if !ok {
		return cmdutil.UsageErrorf("unknown topic %q%s ('backlogctl explain' lists every topic)", o.Topic, suggest.DidYouMean(o.Topic, append(explain.Names(), profilesTopic)))
	}
	if o.Output == "json" {
		return cmdutil.PrintData(o.IO, t)
	}
	return renderTopic(o.IO.Out, o.IO.TerminalWidth(), t)
}
