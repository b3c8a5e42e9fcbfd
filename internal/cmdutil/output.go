package cmdutil

import (
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/internal/jsonfmt"
)

// The -o names every printing command shares; commands add their own
// extras (prom, junit, github) after these.
const (
	// OutputTable is the format for people: aligned columns on a terminal,
	// tab-separated lines in a pipe.
	OutputTable = "table"
	// OutputJSON is one JSON document (watch: JSON Lines).
	OutputJSON = "json"
)

// outputAliases are older -o names still accepted so scripts keep working;
// each means the format it maps to.
var outputAliases = map[string]string{"text": OutputTable}

// canonicalOutput maps an alias to its format name; other values pass as given.
func canonicalOutput(value string) string {
	if c, ok := outputAliases[value]; ok {
		return c
	}
	return value
}

// outputValue is the -o flag: it stores the canonical name, so `-o text`
// reaches the command as "table". Unknown formats are refused by CheckOutput
// in the command's Validate, as a usage error.
type outputValue struct {
	target *string
}

func (v *outputValue) String() string { return *v.target }
func (v *outputValue) Type() string   { return "string" }
func (v *outputValue) Set(s string) error {
	*v.target = canonicalOutput(s)
	return nil
}

// AddOutputFlag registers -o/--output with the formats a command supports;
// the first is the default. "text" is accepted as another name for "table".
func AddOutputFlag(cmd *cobra.Command, target *string, formats ...string) {
	addOutputFlag(cmd, target, formats[0], "`FORMAT` of the output: "+strings.Join(formats, ", "), formats)
}

// AddAutoOutputFlag registers -o/--output with no fixed default: the command
// picks one when the flag is not given (watch: table on a terminal, JSON
// Lines otherwise). usage says so after the list of formats.
func AddAutoOutputFlag(cmd *cobra.Command, target *string, usage string, formats ...string) {
	addOutputFlag(cmd, target, "", "`FORMAT` of the output: "+usage, formats)
}

func addOutputFlag(cmd *cobra.Command, target *string, def, usage string, formats []string) {
	*target = def
	cmd.Flags().VarP(&outputValue{target: target}, "output", "o", usage)
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return formats, cobra.ShellCompDirectiveNoFileComp
	})
}

// CheckOutput validates an -o value against the supported formats; an alias
// ("text") is valid when the format it names is.
func CheckOutput(value string, formats ...string) error {
	if slices.Contains(formats, canonicalOutput(value)) {
		return nil
	}
	return UsageErrorf("invalid --output %q: want one of %s", value, strings.Join(formats, ", "))
}

// WriteJSON writes v as indented JSON followed by a newline, byte for byte
// what json.Encoder with SetIndent("", "  ") writes (jsonfmt is faster).
func WriteJSON(w io.Writer, v any) error {
	return jsonfmt.Write(w, v)
}
