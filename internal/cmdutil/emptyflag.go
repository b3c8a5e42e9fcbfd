package cmdutil

import (
	"slices"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// RefuseEmptyValues makes an empty flag value a usage error on every command
// of the tree under root: `--netns ""` must not quietly mean the caller's
// namespace, nor `--state-dir ""` the working directory, as a shell variable
// that expanded to nothing would make them. The check runs before each
// command's argument check (and from root's PersistentPreRunE for commands
// without one), so it is the first thing said. Call it once the tree is built.
func RefuseEmptyValues(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if args := c.Args; args != nil {
			c.Args = func(c *cobra.Command, a []string) error {
				if err := EmptyFlagError(c); err != nil {
					return err
				}
				return args(c, a)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	pre := root.PersistentPreRunE
	root.PersistentPreRunE = func(c *cobra.Command, a []string) error {
		if err := EmptyFlagError(c); err != nil {
			return err
		}
		if pre != nil {
			return pre(c, a)
		}
		return nil
	}
}

// EmptyFlagError returns a usage error naming the first flag given on c's
// command line with an empty value (or an empty item in a list flag), nil
// when there is none.
func EmptyFlagError(c *cobra.Command) error {
	var bad *pflag.Flag
	c.Flags().VisitAll(func(f *pflag.Flag) {
		if bad == nil && f.Changed && emptyValue(f) {
			bad = f
		}
	})
	if bad == nil {
		return nil
	}
	return UsageErrorf("invalid --%s: the value is empty (leave the flag out for its default; see '%s --help')", bad.Name, c.CommandPath())
}

func emptyValue(f *pflag.Flag) bool {
	if f.Value.Type() == "bool" {
		return false
	}
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		items := sv.GetSlice()
		return len(items) == 0 || slices.Contains(items, "")
	}
	return f.Value.String() == ""
}
