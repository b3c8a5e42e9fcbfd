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

func TestArgCountsAreUsageErrors(t *testing.T) {
	root := &cobra.Command{Use: "backlogctl"}
	c := &cobra.Command{Use: "explain"}
	root.AddCommand(c)
	if err := MaximumArgs(1, "topic")(c, []string{"a"}); err != nil {
		t.Fatalf("one argument: %v", err)
	}
	err := MaximumArgs(1, "topic")(c, []string{"a", "b"})
	if ExitCode(err) != ExitUsage || err.Error() != `explain takes at most 1 topic, got 2: "a" "b"` {
		t.Errorf("two arguments: %v", err)
	}
	err = MinimumArgs(1, "KEY=VALUE")(c, nil)
	if ExitCode(err) != ExitUsage || err.Error() != `explain needs at least 1 KEY=VALUE (see 'backlogctl explain --help')` {
		t.Errorf("no argument: %v", err)
	}
}
