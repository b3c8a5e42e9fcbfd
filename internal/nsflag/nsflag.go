// Package nsflag is the --netns / --all-netns pair that inspect, watch,
// exporter and check share: flag registration, validation, and resolving
// the flags to the namespaces to read.
package nsflag

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/netns"
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
// a clear message rather than an unknown-flag error.
func AddForWrite(cmd *cobra.Command, f *Flags) {
	cmd.Flags().StringVar(&f.Netns, "netns", "", "write inside the network namespace `NAME` (under /run/netns) or PATH (e.g. /proc/PID/ns/net)")
	cmd.Flags().BoolVar(&f.All, "all-netns", false, "refused: a write names the one network namespace it changes (use --netns)")
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

// Namespaces resolves the flags: the one --netns namespace, every namespace
// for --all-netns (with notes on what could not be looked at), or nil when
// neither is set (read where we are, without setns). Processes are listed
// under roots.Proc and names looked up under roots.Netns. An unknown name or a
// path that is not a network namespace is a usage error (exit 2); a
// permission problem is an environment error (exit 3).
func (f Flags) Namespaces(roots hostfs.Roots) ([]netns.Namespace, []string, error) {
	switch {
	case f.Netns != "":
		ns, err := netns.Resolve(f.Netns, roots.WithDefaults().Netns)
		if err != nil {
			return nil, nil, resolveError(f.Netns, err)
		}
		return []netns.Namespace{ns}, nil, nil
	case f.All:
		nss, notes, err := netns.List(roots)
		if err != nil {
			return nil, nil, cmdutil.EnvError(err)
		}
		return nss, notes, nil
	}
	return nil, nil, nil
}

func resolveError(arg string, err error) error {
	switch {
	case errors.Is(err, netns.ErrVanished):
		return cmdutil.UsageErrorf("invalid --netns %q: no such network namespace", arg)
	case errors.Is(err, fs.ErrPermission):
		return cmdutil.EnvError(fmt.Errorf("--netns %q: %w", arg, err))
	}
	return cmdutil.UsageErrorf("invalid --netns %q: %v", arg, err)
}

// Gather takes one snapshot per namespace the flags name. With neither flag
// it reads the current namespace in place (no setns) and labels it with its
// inode. Failing to dump the listeners of the one namespace asked for is an
// environment error; under --all-netns a namespace that fails is a note.
func (f Flags) Gather(opts inspect.Options) (*inspect.MultiSnapshot, error) {
	nss, notes, err := f.Namespaces(opts.Roots)
	if err != nil {
		return nil, err
	}
	if nss == nil {
		snap, err := inspect.Gather(opts)
		if err != nil {
			return nil, cmdutil.EnvError(err)
		}
		cur, _ := netns.Current()
		return &inspect.MultiSnapshot{Time: snap.Time, Namespaces: []inspect.NamespaceSnapshot{{Netns: cur, Snapshot: snap}}}, nil
	}
	if !f.All {
		snap, err := inspect.GatherIn(nss[0], opts)
		if err != nil {
			return nil, cmdutil.EnvError(err)
		}
		return &inspect.MultiSnapshot{Time: snap.Time, Namespaces: []inspect.NamespaceSnapshot{{Netns: nss[0], Snapshot: snap}}}, nil
	}
	m := inspect.GatherAll(nss, opts)
	m.Notes = append(notes, m.Notes...)
	return m, nil
}
