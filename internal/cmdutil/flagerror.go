package cmdutil

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// plainError is a flag value's own message, written for people; FlagError
// passes it through as it is.
type plainError string

func (e plainError) Error() string { return string(e) }

// FlagError turns pflag's parse errors into one line that names the flag and
// says what it wants, without Go's parser messages: `--max-listeners x`
// gives `invalid --max-listeners "x": want a whole number`, not
// `strconv.ParseInt: parsing "x": invalid syntax`. It is the root command's
// flag error function; other errors (unknown flag) pass with a help hint.
func FlagError(c *cobra.Command, err error) error {
	var bad *pflag.InvalidValueError
	if errors.As(err, &bad) {
		return UsageErrorf("invalid --%s %q: %s (see '%s --help')",
			bad.GetFlag().Name, bad.GetValue(), valueWant(bad.GetFlag(), bad.GetValue(), errors.Unwrap(bad)), c.CommandPath())
	}
	return UsageErrorf("%v (see '%s --help')", err, c.CommandPath())
}

// valueWant says what a flag accepts, from its type when the parser's own
// message is Go's (strconv, time), or the value's message when it is ours.
func valueWant(f *pflag.Flag, bad string, cause error) string {
	var plain plainError
	if errors.As(cause, &plain) {
		return string(plain)
	}
	var num *strconv.NumError
	outOfRange := errors.As(cause, &num) && errors.Is(num.Err, strconv.ErrRange)
	typ := f.Value.Type()
	switch {
	case strings.HasPrefix(typ, "uint"):
		if outOfRange {
			return "too large"
		}
		return "want a whole number, 0 or more"
	case strings.HasPrefix(typ, "int"):
		if outOfRange {
			return "out of range"
		}
		return "want a whole number"
	case strings.HasPrefix(typ, "float"):
		return "want a number, e.g. 1500 or 0.5"
	case strings.HasPrefix(typ, "duration"):
		if durationSyntax.MatchString(bad) {
			// Well formed, so the parser refused it for overflowing int64 ns.
			return "too long: at most 2562047h (about 292 years)"
		}
		return "want a duration with a unit, e.g. 500ms, 10s or 2m"
	case typ == "bool":
		return "want true or false"
	}
	if num != nil || strings.HasPrefix(cause.Error(), "time: ") {
		return "not a valid value"
	}
	return cause.Error()
}

// durationSyntax is what time.ParseDuration accepts, whatever the size: a
// value that matches and is still refused is too long for a Duration.
var durationSyntax = regexp.MustCompile(`^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$`)

// TidyFlagHelp removes what pflag would print from Go rather than for
// people: an empty list flag's "(default [])" (pflag hides it for only some
// list types). Call it on the root once the tree is built; it visits every
// command.
func TidyFlagHelp(root *cobra.Command) {
	tidy := func(f *pflag.Flag) {
		switch f.Value.Type() {
		case "intSlice", "stringSlice", "stringArray":
			return // pflag already hides their empty default
		}
		if f.DefValue == "[]" {
			f.DefValue = ""
		}
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(tidy)
		c.PersistentFlags().VisitAll(tidy)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
