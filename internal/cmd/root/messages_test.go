package root

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/backlogctl/backlogctl/internal/cmdutil"
)

// goInternals are texts that come from Go or pflag rather than from us: a
// parser's name, a slice printed with %v, a Go type name as a flag's value.
var goInternals = regexp.MustCompile(`strconv\.|time: (invalid|missing|unknown)|\(default \[\]\)|\(default \)|map\[|\[\]string|` +
	`--[a-z-]+ (uints|ints|strings|stringArray|stringSlice|uintSlice|intSlice)\b|known: \[|arg\(s\)|\["`)

// eachCommand calls fn with the path (as arguments) of every command
// backlogctl defines.
func eachCommand(t *testing.T, fn func(args []string, c *cobra.Command)) {
	t.Helper()
	root, _ := testRoot(t)
	var walk func(c *cobra.Command, args []string)
	walk = func(c *cobra.Command, args []string) {
		if cobraInternal(c) {
			return
		}
		fn(args, c)
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string{}, args...), sub.Name()))
		}
	}
	walk(root, nil)
}

func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root, ios := testRoot(t)
	root.SetArgs(args)
	err := root.Execute()
	return ios.Out.(*bytes.Buffer).String(), ios.ErrOut.(*bytes.Buffer).String(), err
}

// TestHelpHasNoGoInternals renders every command's --help and fails on
// anything that shows Go rather than the product: "(default [])", a Go
// type name where the flag's value name belongs, a slice printed with %v.
func TestHelpHasNoGoInternals(t *testing.T) {
	n := 0
	eachCommand(t, func(args []string, _ *cobra.Command) {
		n++
		out, _, err := run(t, append(args, "--help")...)
		if err != nil {
			t.Errorf("%v --help: %v", args, err)
			return
		}
		if m := goInternals.FindString(out); m != "" {
			t.Errorf("backlogctl %s --help shows %q:\n%s", strings.Join(args, " "), m, out)
		}
	})
	if n < 10 {
		t.Fatalf("walked %d commands; the tree looks empty", n)
	}
}

// badValues are what a user may mistype for a numeric flag, by kind.
func badValues(f *pflag.Flag) []string {
	typ := f.Value.Type()
	switch {
	case strings.HasPrefix(typ, "uint"), typ == "ports":
		return []string{"x", "-1", "1.5", "99999999999999999999999"}
	case strings.HasPrefix(typ, "int"):
		return []string{"x", "1.5", "99999999999999999999999"}
	case strings.HasPrefix(typ, "float"):
		return []string{"x", "1,5"}
	case typ == "duration":
		return []string{"x", "5", "-"}
	}
	return nil
}

// TestBadNumericFlags feeds bad values to every numeric and duration flag of
// every command: each must fail as a usage error (exit 2) on one line that
// names the flag and the value, without Go's parser messages.
func TestBadNumericFlags(t *testing.T) {
	tried := 0
	eachCommand(t, func(args []string, c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			for _, bad := range badValues(f) {
				tried++
				argv := append(append([]string{}, args...), "--"+f.Name+"="+bad)
				_, _, err := run(t, argv...)
				if err == nil {
					t.Errorf("%v: no error", argv)
					continue
				}
				msg := err.Error()
				if code := cmdutil.ExitCode(err); code != cmdutil.ExitUsage {
					t.Errorf("%v: exit %d, want %d (%s)", argv, code, cmdutil.ExitUsage, msg)
				}
				if !strings.Contains(msg, "--"+f.Name) || !strings.Contains(msg, bad) {
					t.Errorf("%v: %q does not name the flag and the value", argv, msg)
				}
				if m := goInternals.FindString(msg); m != "" || strings.Contains(msg, "\n") {
					t.Errorf("%v: %q shows Go internals %q or spans lines", argv, msg, m)
				}
			}
		})
	})
	if tried < 20 {
		t.Fatalf("tried %d bad values; expected numeric flags on several commands", tried)
	}
}

// TestOutputNamesAreShared: every command with -o offers table and json, and
// takes "text" as the older name of "table".
func TestOutputNamesAreShared(t *testing.T) {
	eachCommand(t, func(args []string, c *cobra.Command) {
		f := c.LocalFlags().Lookup("output")
		if f == nil {
			return
		}
		if !strings.Contains(f.Usage, "table") || !strings.Contains(f.Usage, "json") {
			t.Errorf("%v -o offers %q; every printing command offers table and json", args, f.Usage)
		}
		// "text" is the older name of "table" and stays accepted.
		for _, v := range []string{"table", "text"} {
			if err := c.LocalFlags().Set("output", v); err != nil {
				t.Errorf("%v -o %s: %v", args, v, err)
			} else if got := f.Value.String(); got != "table" {
				t.Errorf("%v -o %s stored %q, want table", args, v, got)
			}
		}
		// yaml wherever there is json: the same document.
		if !strings.Contains(f.Usage, "yaml") {
			t.Errorf("%v -o offers %q: no yaml", args, f.Usage)
		} else if err := c.LocalFlags().Set("output", "yaml"); err != nil || f.Value.String() != "json" {
			t.Errorf("%v -o yaml stored %q (%v), want json", args, f.Value.String(), err)
		}
		// Every command that prints tables has -o wide and --no-headers.
		table := slices.Contains(tableCommands, strings.Join(args, " "))
		if nh := c.LocalFlags().Lookup("no-headers"); (nh != nil) != table || strings.Contains(f.Usage, "wide") != table {
			t.Errorf("%v: --no-headers %v, -o %q; want both wide and --no-headers exactly on the commands that print tables", args, nh != nil, f.Usage)
		}
		_ = c.LocalFlags().Set("output", "table")
	})
}

// tableCommands print tables with headers.
var tableCommands = []string{"inspect", "advise", "tune", "check", "rlimit", "trace", "watch", "explain"}

// Stray arguments are errors on one line, in words, on every command. None
// of these is a valid KEY=VALUE, shell or topic, so nothing runs (commands
// are never run without arguments here: watch and exporter would not end).
func TestStrayArguments(t *testing.T) {
	eachCommand(t, func(args []string, c *cobra.Command) {
		if len(args) == 0 || !c.Runnable() {
			return
		}
		argv := append(append([]string{}, args...), "x1=", "x2", "x3")
		_, _, err := run(t, argv...)
		if err == nil {
			t.Errorf("%v: no error", argv)
			return
		}
		msg := err.Error()
		if m := goInternals.FindString(msg); m != "" || strings.Contains(msg, "\n") {
			t.Errorf("%v: %q shows Go internals %q or spans lines", argv, msg, m)
		}
	})
}

// A well-formed duration too long for the parser is called that, not
// "want a duration with a unit", on every duration flag.
func TestDurationTooLong(t *testing.T) {
	tried := 0
	eachCommand(t, func(args []string, c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if f.Value.Type() != "duration" {
				return
			}
			tried++
			argv := append(append([]string{}, args...), "--"+f.Name+"=1000000000h")
			_, _, err := run(t, argv...)
			if cmdutil.ExitCode(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), "too long: at most 2562047h") {
				t.Errorf("%v: %v; want exit 2 saying it is too long", argv, err)
			}
		})
	})
	if tried < 5 {
		t.Fatalf("tried %d duration flags", tried)
	}
}
