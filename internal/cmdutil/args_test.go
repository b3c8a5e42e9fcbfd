package cmdutil

import (
	"testing"

	"github.com/spf13/cobra"
)

func TestNoArgsIsAUsageError(t *testing.T) {
	c := &cobra.Command{Use: "x"}
	if err := NoArgs(c, nil); err != nil {
		t.Fatalf("no arguments: %v", err)
	}
	if got := ExitCode(NoArgs(c, []string{"extra"})); got != ExitUsage {
		t.Errorf("stray argument: exit %d, want %d", got, ExitUsage)
	}
}
