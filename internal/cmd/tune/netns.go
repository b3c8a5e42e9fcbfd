package tune

import (
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/nsflag"
)

// checkNamespaces refuses --all-netns: tune writes, records and rolls back
// one network namespace's values, so a run names the one it changes.
func checkNamespaces(f nsflag.Flags) error {
	if err := f.Validate(); err != nil {
		return err
	}
	if f.All {
		return cmdutil.UsageErrorf("tune plans and writes one network namespace at a time: --all-netns is refused (give --netns NAME for each)")
	}
	return nil
}
