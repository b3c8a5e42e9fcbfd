package cmdutil

import "github.com/spf13/cobra"

// NoArgs is cobra.NoArgs with its error typed as a usage error (exit 2), so
// the exit code does not depend on recognising cobra's wording.
func NoArgs(c *cobra.Command, args []string) error {
	if err := cobra.NoArgs(c, args); err != nil {
		return UsageErrorf("%v", err)
	}
	return nil
}
