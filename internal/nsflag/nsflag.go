// Package nsflag is the --netns / --all-netns pair that inspect, watch,
// exporter and check share: flag registration, validation, and resolving
// the flags to the namespaces to read.
package nsflag

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/model"
)

// Flags holds the two flags' values.
type Flags struct {
	// Netns is a name under /run/netns or a path such as /proc/PID/ns/net.
	Netns string
	// All asks for every network namespace on the host.
	All bool
}

// Add registers --netns and --all-netns on cmd.
func Add(cmd *cobra.Command, f *Flags) {
	cmd.Flags().StringVar(&f.Netns, "netns", "", "read the network namespace `NAME` (under /run/netns) or PATH (e.g. /proc/PID/ns/net)")
	cmd.Flags().BoolVar(&f.All, "all-netns", false, "read every network namespace on the host, each labelled")
}

// AddForWrite registers the pair on a command that writes: --netns runs
// the write inside that namespace, --all-netns is there to be refused with
// a clear message rather than an unknown-flag error, and is left out of
// --help.
func AddForWrite(cmd *cobra.Command, f *Flags) {
	cmd.Flags().StringVar(&f.Netns, "netns", "", "write inside the network namespace `NAME` (under /run/netns) or PATH (e.g. /proc/PID/ns/net)")
	cmd.Flags().BoolVar(&f.All, "all-netns", false, "refused: a write names the one network namespace it changes (use --netns)")
	_ = cmd.Flags().MarkHidden("all-netns")
}

// Set reports whether either flag was given.
func (f Flags) Set() bool { return f.Netns != "" || f.All }

// Validate rejects both flags at once.
func (f Flags) Validate() error {
	if f.Netns != "" && f.All {
		return cmdutil.UsageErrorf("--netns and --all-netns cannot be used together")
	}
	return nil
}

// Collect is the flags as the collector's option.
func (f Flags) Collect() collect.Namespaces { return collect.Namespaces{Netns: f.Netns, All: f.All} }

// Namespaces resolves the flags (collect.Namespaces.Resolve): the one
// --netns namespace, every namespace for --all-netns (with notes on what
// could not be looked at), or nil when neither is set. An unknown name or a
// path that is not a network namespace is a usage error (exit 2); a
// permission problem is an environment error (exit 3).
func (f Flags) Namespaces(roots hostfs.Roots) ([]model.Namespace, []string, error) {
	nss, notes, err := f.Collect().Resolve(roots)
	if err != nil {
		return nil, nil, Error(err)
	}
	return nss, notes, nil
}

// Error gives a collector's error about the namespaces its exit code: a
// --netns that names nothing is a usage error, anything else is the
// environment's.
func Error(err error) error {
	var nserr *collect.NamespaceError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &nserr) && nserr.Usage():
		return cmdutil.UsageErrorf("%v", err)
	}
	return cmdutil.EnvError(err)
}
