package cmdutil

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// NoArgs is cobra.NoArgs with its error typed as a usage error (exit 2), so
// the exit code does not depend on recognising cobra's wording.
func NoArgs(c *cobra.Command, args []string) error {
	if err := cobra.NoArgs(c, args); err != nil {
		return UsageErrorf("%v", err)
	}
	return nil
}

// MaximumArgs accepts at most n arguments, each a what ("topic"); more is a
// usage error that names the command and what it takes.
func MaximumArgs(n int, what string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) > n {
			return UsageErrorf("%s takes at most %d %s, got %d: %s", name(c), n, plural(n, what), len(args), quoted(args))
		}
		return nil
	}
}

// MinimumArgs needs at least n arguments, each a what ("KEY=VALUE").
func MinimumArgs(n int, what string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) < n {
			return UsageErrorf("%s needs at least %d %s (see '%s --help')", name(c), n, plural(n, what), c.CommandPath())
		}
		return nil
	}
}

// name is the command's path without the program's name: "sysctl set".
func name(c *cobra.Command) string {
	return strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ")
}

func quoted(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = strconv.Quote(a)
	}
	return strings.Join(q, " ")
}

func plural(n int, what string) string {
	if n == 1 {
		return what
	}
	return what + "s"
}
