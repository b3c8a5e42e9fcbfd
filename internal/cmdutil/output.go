package cmdutil

import (
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/jsonfmt"
	"github.com/backlogctl/backlogctl/internal/yamlfmt"
)

// The -o names every printing command shares; commands add their own
// extras (prom, junit, github) after these.
const (
	// OutputTable is the format for people: aligned columns on a terminal,
	// tab-separated lines in a pipe.
	OutputTable = "table"
	// OutputJSON is one JSON document (watch: JSON Lines).
	OutputJSON = "json"
	// OutputYAML is the JSON document as YAML (watch, trace: one YAML
	// document per report, each after "---"). Commands see it as "json":
	// IOStreams.YAML tells the writer.
	OutputYAML = "yaml"
	// OutputWide is the table with every column, however wide the
	// terminal. Commands see it as "table": IOStreams.Wide tells the printer.
	OutputWide = "wide"
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
// and `-o wide` reach the command as "table" and `-o yaml` as "json", and
// tells the command's IOStreams which form was asked for. A format the
// command does not offer is stored as given, to be refused by CheckOutput
// in the command's Validate, as a usage error.
type outputValue struct {
	target  *string
	io      *iostreams.IOStreams
	formats []string
}

func (v *outputValue) String() string { return *v.target }
func (v *outputValue) Type() string   { return "string" }
func (v *outputValue) Set(s string) error {
	*v.target = canonicalOutput(s)
	offered := slices.Contains(v.formats, s)
	switch {
	case s == OutputYAML && offered:
		*v.target = OutputJSON
	case s == OutputWide && offered:
		*v.target = OutputTable
	}
	if v.io != nil {
		v.io.SetYAML(s == OutputYAML && offered)
		v.io.SetWide(s == OutputWide && offered)
	}
	return nil
}

// withForms adds yaml after json, and wide after table when the command has
// real tables (tables true), to a command's formats.
func withForms(formats []string, tables bool) []string {
	out := make([]string, 0, len(formats)+2)
	for _, f := range formats {
		out = append(out, f)
		switch {
		case f == OutputJSON:
			out = append(out, OutputYAML)
		case f == OutputTable && tables:
			out = append(out, OutputWide)
		}
	}
	return out
}

// AddOutputFlag registers -o/--output with the formats a command supports;
// the first is the default. yaml is offered wherever json is; "text" is
// accepted as another name for "table". Use AddTableOutputFlag for a
// command whose table output is a table with a header.
func AddOutputFlag(cmd *cobra.Command, io *iostreams.IOStreams, target *string, formats ...string) {
	addOutputFlag(cmd, io, target, formats[0], "`FORMAT` of the output: "+strings.Join(withForms(formats, false), ", "), withForms(formats, false))
}

// AddTableOutputFlag is AddOutputFlag for a command that prints tables:
// it also offers -o wide (every column, however narrow the terminal) and
// --no-headers.
func AddTableOutputFlag(cmd *cobra.Command, io *iostreams.IOStreams, target *string, formats ...string) {
	all := withForms(formats, true)
	addOutputFlag(cmd, io, target, formats[0], "`FORMAT` of the output: "+strings.Join(all, ", ")+" (wide: every column, however narrow the terminal)", all)
	addNoHeaders(cmd, io)
}

// AddAutoOutputFlag registers -o/--output with no fixed default: the command
// picks one when the flag is not given (watch: table on a terminal, JSON
// Lines otherwise). usage says so after the list of formats. The command
// prints tables: -o wide and --no-headers are offered too.
func AddAutoOutputFlag(cmd *cobra.Command, io *iostreams.IOStreams, target *string, usage string, formats ...string) {
	addOutputFlag(cmd, io, target, "", "`FORMAT` of the output: "+usage, withForms(formats, true))
	addNoHeaders(cmd, io)
}

func addOutputFlag(cmd *cobra.Command, io *iostreams.IOStreams, target *string, def, usage string, formats []string) {
	*target = def
	cmd.Flags().VarP(&outputValue{target: target, io: io, formats: formats}, "output", "o", usage)
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return formats, cobra.ShellCompDirectiveNoFileComp
	})
}

// noHeadersValue is --no-headers, kept in the IOStreams the tables are drawn for.
type noHeadersValue struct{ io *iostreams.IOStreams }

func (v noHeadersValue) String() string   { return strconv.FormatBool(v.io.NoHeaders()) }
func (v noHeadersValue) Type() string     { return "bool" }
func (v noHeadersValue) IsBoolFlag() bool { return true }
func (v noHeadersValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	v.io.SetNoHeaders(b)
	return nil
}

func addNoHeaders(cmd *cobra.Command, io *iostreams.IOStreams) {
	f := cmd.Flags().VarPF(noHeadersValue{io: io}, "no-headers", "", "leave out tables' header lines (for scripts, as kubectl's)")
	f.NoOptDefVal = "true"
}

// CheckOutput validates an -o value, as the flag stored it, against the
// supported formats; an alias ("text") is valid when the format it names is.
// (yaml and wide, where offered, reach it as json and table.)
func CheckOutput(value string, formats ...string) error {
	if slices.Contains(formats, canonicalOutput(value)) {
		return nil
	}
	return UsageErrorf("invalid --output %q: want one of %s", value, strings.Join(withForms(formats, false), ", "))
}

// WriteJSON writes v as indented JSON followed by a newline, byte for byte
// what json.Encoder with SetIndent("", "  ") and SetEscapeHTML(false)
// writes (jsonfmt is faster).
func WriteJSON(w io.Writer, v any) error {
	return jsonfmt.Write(w, v)
}

// PrintData writes v to io.Out as -o asked: indented JSON, or with -o yaml
// the same document as YAML.
func PrintData(io *iostreams.IOStreams, v any) error {
	if !io.YAML() {
		return jsonfmt.Write(io.Out, v)
	}
	b, err := jsonfmt.Marshal(v)
	if err != nil {
		return err
	}
	return yamlfmt.Write(io.Out, b)
}
