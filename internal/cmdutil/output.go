package cmdutil

import (
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/internal/jsonfmt"
)

// AddOutputFlag registers -o/--output with the formats a command supports;
// the first is the default.
func AddOutputFlag(cmd *cobra.Command, target *string, formats ...string) {
	*target = formats[0]
	cmd.Flags().StringVarP(target, "output", "o", formats[0],
		"output format: "+strings.Join(formats, ", "))
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return formats, cobra.ShellCompDirectiveNoFileComp
	})
}

// CheckOutput validates an -o value against the supported formats.
func CheckOutput(value string, formats ...string) error {
	if slices.Contains(formats, value) {
		return nil
	}
	return UsageErrorf("invalid --output %q: want one of %s", value, strings.Join(formats, ", "))
}

// WriteJSON writes v as indented JSON followed by a newline, byte for byte
// what json.Encoder with SetIndent("", "  ") writes (jsonfmt is faster).
func WriteJSON(w io.Writer, v any) error {
	return jsonfmt.Write(w, v)
}
