// Package sysctl is the `backlogctl sysctl` command group: read and write
// tunables like sysctl(8), but only keys backlogctl knows (unless --force),
// validated before the first write and all or nothing.
package sysctl

import (
	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/internal/cmdutil"
)

// NewCmdSysctl returns the sysctl command with get and set.
func NewCmdSysctl(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sysctl <command>",
		Short: "Read and write the tunables, validated, like sysctl(8)",
		Long: `Read and write the kernel tunables backlogctl knows, like sysctl(8).

Keys are given by full name (net.core.somaxconn), slash path
(net/core/somaxconn) or short alias (somaxconn). A key must name a file inside
/proc/sys: no '..', no absolute paths, no symlinks leading out. Keys outside
backlogctl's registry are refused unless --force.`,
		Example: `  backlogctl sysctl get somaxconn tcp_syncookies
  sudo backlogctl sysctl set somaxconn=8192 tcp_max_syn_backlog=8192`,
	}
	cmd.AddCommand(NewCmdGet(f, nil))
	cmd.AddCommand(NewCmdSet(f, nil))
	return cmd
}

var formats = []string{"table", "json"}

// Value is one key and its value, as get prints it and set wrote it.
type Value struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}
