// Package app runs backlogctl: it builds the command tree, executes it and
// turns the result into the process exit code. It is the one place that
// maps errors to exit codes.
package app

import (
	"errors"
	"fmt"
	"strings"

	"github.com/backlogctl/backlogctl/internal/cmd/root"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
)

// Version, Commit and Date are set by the release build with -ldflags -X.
var (
	Version = "dev"
	Commit  = "none"
	Date    = "unknown"
)

// Main runs the command line and returns the exit code.
func Main() int {
	f := cmdutil.New(Version)
	f.Commit, f.Date = Commit, Date
	cmd := root.NewCmdRoot(f)
	err := cmd.Execute()
	if err == nil {
		return cmdutil.ExitOK
	}
	code := cmdutil.ExitCode(err)
	var typed *cmdutil.ExitError
	isTyped := errors.As(err, &typed)
	if !isTyped || !typed.Silent {
		msg := err.Error()
		// cobra's own usage errors (unknown command, missing args) are untyped;
		// errors our commands typed keep their code even if the text looks alike.
		if !isTyped && isCobraUsage(msg) {
			code = cmdutil.ExitUsage
		}
		fmt.Fprintf(f.IOStreams.ErrOut, "backlogctl: %s\n", oneLine(msg))
	}
	return code
}

// isCobraUsage recognises the errors cobra itself returns for bad command lines.
func isCobraUsage(msg string) bool {
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "requires at most", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
