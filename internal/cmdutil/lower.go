package cmdutil

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// AllowLowerHelp is the one description of --allow-lower that tune and
// sysctl set share.
const AllowLowerHelp = "allow changes that lower a value (mode keys such as tcp_syncookies are never 'lowered')"

// AllowLowerLimitHelp is rlimit set's --allow-lower: it lowers limits, not keys.
const AllowLowerLimitHelp = "allow a soft or hard RLIMIT_NOFILE below the process's current one (never below the descriptors it has open)"

// AddAllowLowerFlag registers --allow-lower on a command that writes, with
// usage AllowLowerHelp or AllowLowerLimitHelp.
func AddAllowLowerFlag(cmd *cobra.Command, allow *bool, usage string) {
	cmd.Flags().BoolVar(allow, "allow-lower", false, usage)
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
