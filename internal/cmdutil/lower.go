package cmdutil

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// AllowLowerHelp is the one description of --allow-lower that tune,
// sysctl set and rlimit set share.
const AllowLowerHelp = "allow changes that lower a value (mode keys such as tcp_syncookies are never 'lowered')"

// AddAllowLowerFlag registers --allow-lower on a command that writes.
func AddAllowLowerFlag(cmd *cobra.Command, allow *bool) {
	cmd.Flags().BoolVar(allow, "allow-lower", false, AllowLowerHelp)
}

// LoweringError refuses changes that lower a value without --allow-lower;
// each item reads like "net.core.somaxconn from 128 to 64".
func LoweringError(items []string) error {
	return UsageErrorf("refusing to lower %s without --allow-lower; nothing was changed", strings.Join(items, ", "))
}

// Lowered formats one lowering for LoweringError.
func Lowered(what string, from, to any) string {
	return fmt.Sprintf("%s from %v to %v", what, from, to)
}
