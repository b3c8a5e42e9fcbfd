package inspect_test

import (
	"strings"
	"testing"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmd/root"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
)

// Bad command lines, through the whole command tree as the binary runs it:
// exit 2, a one-line error naming what was wrong, nothing on stdout.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"inspect", "--port", "0"}, "invalid --port 0: want 1..65535"},
		{[]string{"inspect", "--port", "70000"}, "invalid --port 70000: want 1..65535"},
		{[]string{"inspect", "--port", "80", "--port", "65536"}, "invalid --port 65536"},
		{[]string{"inspect", "--port", "80,0"}, "invalid --port 0"},
		{[]string{"inspect", "--port", "-1"}, `invalid --port "-1": want a port number 1..65535`},
		{[]string{"inspect", "--port", "http"}, `invalid --port "http": want a port number 1..65535`},
		{[]string{"inspect", "--port"}, "flag needs an argument: --port"},
		{[]string{"inspect", "-o", "xml"}, `invalid --output "xml": want one of table, json, yaml, prom`},
		{[]string{"inspect", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"inspect", "9000"}, `inspect takes no arguments, got "9000" (to pick listeners use --port or --path)`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			ios, _, out, _ := iostreams.Test()
			f := &cmdutil.Factory{IOStreams: ios, Roots: hostfs.Host()}
			cmd := root.NewCmdRoot(f)
			cmd.SetArgs(tt.args)
			err := cmd.Execute()
			if code := cmdutil.ExitCode(err); code != cmdutil.ExitUsage {
				t.Errorf("exit %d (err %v), want 2", code, err)
			}
			if err == nil {
				return
			}
			if msg := err.Error(); !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q, want one line containing %q", msg, tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", out.String())
			}
		})
	}
}

// --help documents the exit codes.
func TestHelpDocumentsExitCodes(t *testing.T) {
	ios, _, out, _ := iostreams.Test()
	cmd := root.NewCmdRoot(&cmdutil.Factory{IOStreams: ios})
	cmd.SetArgs([]string{"inspect", "--help"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Exit status: 0 on success, 2 on a usage error, 3 when", "--port", "--no-processes", "-o, --output"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}
