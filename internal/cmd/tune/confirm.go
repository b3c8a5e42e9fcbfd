package tune

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/backlogctl/backlogctl/internal/cmdutil"
)

// confirm asks on a terminal unless --yes; without a terminal it refuses,
// since nobody can answer and a script should say --yes.
func confirm(o *Options, question string) error {
	if o.Yes {
		return nil
	}
	if !o.IO.IsStdinTTY() {
		return cmdutil.UsageErrorf("refusing to change tunables without confirmation: input is not a terminal; pass --yes")
	}
	fmt.Fprintf(o.IO.ErrOut, "%s [y/N] ", question)
	line, _ := bufio.NewReader(o.IO.In).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return cmdutil.UsageErrorf("not confirmed; nothing was changed")
}
