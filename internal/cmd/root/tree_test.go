package root

import (
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
)

var kebab = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// cobraInternal are the commands cobra adds by itself: `help` (documented by
// cobra, no Example) and the hidden `__complete`/`__completeNoDesc` that the
// shell scripts call. They are exempt; everything backlogctl defines is not.
// cobra's own `completion` command is disabled in favour of ours.
func cobraInternal(c *cobra.Command) bool {
	return c.Name() == "help" && c.Parent() != nil && c.Parent().Parent() == nil ||
		strings.HasPrefix(c.Name(), cobra.ShellCompRequestCmd)
}

func testRoot(t *testing.T) (*cobra.Command, *iostreams.IOStreams) {
	t.Helper()
	ios, _, _, _ := iostreams.Test()
	f := &cmdutil.Factory{IOStreams: ios, Roots: hostfs.Roots{Proc: t.TempDir(), Sys: t.TempDir()}, Version: "1.2.3", Commit: "abc", Date: "2026-11-23"}
	return NewCmdRoot(f), ios
}

// TestCommandTree checks every command has Short, Long and Example text, a
// lower-kebab-case name, and lower-kebab-case flags with one-letter shorthands.
func TestCommandTree(t *testing.T) {
	root, _ := testRoot(t)
	root.InitDefaultHelpCmd()
	root.InitDefaultHelpFlag()
	root.InitDefaultVersionFlag()
	var walk func(c *cobra.Command)
	count := 0
	walk = func(c *cobra.Command) {
		if cobraInternal(c) {
			return
		}
		count++
		path := c.CommandPath()
		for field, text := range map[string]string{"Short": c.Short, "Long": c.Long, "Example": c.Example} {
			if strings.TrimSpace(text) == "" {
				t.Errorf("%s: no %s text", path, field)
			}
		}
		if strings.HasSuffix(strings.TrimSpace(c.Short), ".") {
			t.Errorf("%s: Short ends with a period: %q", path, c.Short)
		}
		if !kebab.MatchString(c.Name()) {
			t.Errorf("%s: command name %q is not lower-kebab-case", path, c.Name())
		}
		check := func(f *pflag.Flag) {
			// The exporter's web.* flags are named as every Prometheus
			// exporter names them (--web.listen-address, ...).
			if name, ok := strings.CutPrefix(f.Name, "web."); ok && c.Name() == "exporter" {
				if !kebab.MatchString(strings.ReplaceAll(name, ".", "-")) {
					t.Errorf("%s: flag --%s is not web.lower-kebab-case", path, f.Name)
				}
			} else if !kebab.MatchString(f.Name) {
				t.Errorf("%s: flag --%s is not lower-kebab-case", path, f.Name)
			}
			if len(f.Shorthand) > 1 {
				t.Errorf("%s: flag --%s has shorthand %q", path, f.Name, f.Shorthand)
			}
			if strings.TrimSpace(f.Usage) == "" {
				t.Errorf("%s: flag --%s has no usage text", path, f.Name)
			}
			// A flag the command always refuses is not one of its options.
			if strings.HasPrefix(f.Usage, "refused") && !f.Hidden {
				t.Errorf("%s: flag --%s is always refused but shown in --help", path, f.Name)
			}
			// rlimit set lowers limits, not sysctl keys.
			if c.Name() == "set" && c.Parent().Name() == "rlimit" && strings.Contains(f.Usage, "tcp_syncookies") {
				t.Errorf("%s: --%s speaks of tcp_syncookies: %q", path, f.Name, f.Usage)
			}
		}
		c.LocalFlags().VisitAll(check)
		c.PersistentFlags().VisitAll(check)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if count < 5 {
		t.Errorf("walked %d commands; the tree looks empty", count)
	}
}

func execute(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root, ios := testRoot(t)
	root.SetArgs(args)
	err := root.Execute()
	return ios.Out.(interface{ String() string }).String(), err
}

func TestCompleteExplainKeys(t *testing.T) {
	out, err := execute(t, cobra.ShellCompRequestCmd, "explain", "som")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if name, _, _ := strings.Cut(l, "\t"); name != "" && !strings.HasPrefix(name, ":") {
			got = append(got, name)
		}
	}
	if strings.Join(got, " ") != "net.core.somaxconn somaxconn" {
		t.Errorf("__complete explain som = %q, want net.core.somaxconn and somaxconn\n%s", got, out)
	}
	if !strings.Contains(out, "\n:4\n") { // ShellCompDirectiveNoFileComp
		t.Errorf("directive is not NoFileComp:\n%s", out)
	}

	out, err = execute(t, cobra.ShellCompRequestCmd, "explain", "TcpExtListen")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "TcpExtListenOverflows\t") || !strings.Contains(out, "TcpExtListenDrops\t") {
		t.Errorf("__complete explain TcpExtListen lacks the counters:\n%s", out)
	}
}

func TestVersionFlagMatchesCommand(t *testing.T) {
	flag, err := execute(t, "--version")
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := execute(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	if flag != cmd || !strings.HasPrefix(flag, "backlogctl 1.2.3\ncommit: abc\n") {
		t.Errorf("--version = %q, version = %q; want the same text", flag, cmd)
	}
}
