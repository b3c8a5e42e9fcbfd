package collect

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/netns"
)

// Namespaces names the network namespaces to read: --netns and --all-netns.
type Namespaces struct {
	// Netns is a name under /run/netns or a path such as /proc/PID/ns/net.
	Netns string
	// All asks for every network namespace on the host.
	All bool
}

// Set reports whether any namespace was named.
func (n Namespaces) Set() bool { return n.Netns != "" || n.All }

// NamespaceError is a --netns that names no network namespace, or one that
// cannot be opened.
type NamespaceError struct {
	Arg string
	Err error
	// Known are the names under the run directory (`ip netns list`), for
	// a --netns name that is not among them; RunDir is where they were
	// looked for.
	Known  []string
	RunDir string
}

func (e *NamespaceError) Error() string {
	switch {
	case errors.Is(e.Err, netns.ErrVanished) && e.RunDir != "":
		if len(e.Known) == 0 {
			return fmt.Sprintf("invalid --netns %q: no such network namespace, and there is none under %s (give a path such as /proc/PID/ns/net for a container's)", e.Arg, e.RunDir)
		}
		return fmt.Sprintf("invalid --netns %q: no such network namespace; under %s there are: %s (or give a path such as /proc/PID/ns/net)", e.Arg, e.RunDir, strings.Join(e.Known, ", "))
	case errors.Is(e.Err, netns.ErrVanished):
		return fmt.Sprintf("invalid --netns %q: no such network namespace", e.Arg)
	case errors.Is(e.Err, fs.ErrPermission):
		return fmt.Sprintf("--netns %q: %v", e.Arg, e.Err)
	}
	return fmt.Sprintf("invalid --netns %q: %v", e.Arg, e.Err)
}

func (e *NamespaceError) Unwrap() error { return e.Err }

// Usage reports whether the error is in what was asked (no such namespace,
// not a namespace file) rather than a permission the host refused.
func (e *NamespaceError) Usage() bool { return !errors.Is(e.Err, fs.ErrPermission) }

// Resolve finds the namespaces n names: the one --netns namespace, every
// namespace for --all-netns (with notes on what could not be looked at),
// or nil when neither is set (read where we are, without setns). Processes
// are listed under roots.Proc and names looked up under roots.Netns.
func (n Namespaces) Resolve(roots hostfs.Roots) ([]model.Namespace, []string, error) {
	switch {
	case n.Netns != "":
		runDir := roots.WithDefaults().Netns
		ns, err := netns.Resolve(n.Netns, runDir)
		if err != nil {
			nerr := &NamespaceError{Arg: n.Netns, Err: err}
			if errors.Is(err, netns.ErrVanished) && !strings.Contains(n.Netns, "/") {
				nerr.RunDir, nerr.Known = runDir, netns.Names(runDir)
			}
			return nil, nil, nerr
		}
		return []model.Namespace{ns}, nil, nil
	case n.All:
		return netns.List(roots)
	}
	return nil, nil, nil
}

// each is the one fan-out over network namespaces: it runs read inside
// each namespace of nss, on a locked OS thread that has entered it
// (netns.Do: sock_diag sockets it opens, /proc/sys/net and
// /proc/thread-self/net are then the namespace's own), at most parallel at a
// time (1: in turn; 0: all at once, as windows that must overlap in time),
// and returns each one's error by index.
func each(nss []model.Namespace, parallel int, read func(i int, ns model.Namespace) error) []error {
	return netns.EachParallel(nss, parallel, func(i int, ns model.Namespace) error {
		return netns.Do(ns.Path, func() error { return read(i, ns) })
	})
}

// skipped turns each's errors into notes for the namespaces that failed,
// or, when only one was asked for, the error that it failed with.
func skipped(n Namespaces, nss []model.Namespace, errs []error) ([]string, error) {
	var notes []string
	for i, err := range errs {
		if err == nil {
			continue
		}
		if !n.All {
			return nil, err
		}
		notes = append(notes, netns.SkipNote(nss[i], err))
	}
	return notes, nil
}

// Inside runs read inside each namespace of nss in turn, through the one
// fan-out, for a caller whose read is its own (sysctl get reads the keys it
// was given), and returns a note for each namespace it had to skip.
func Inside(nss []model.Namespace, read func(model.Namespace) error) (notes []string) {
	for i, err := range each(nss, 1, func(_ int, ns model.Namespace) error { return read(ns) }) {
		if err != nil {
			notes = append(notes, netns.SkipNote(nss[i], err))
		}
	}
	return notes
}
