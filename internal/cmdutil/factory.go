package cmdutil

import (
	"os"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/iostreams"
)

// Factory carries what commands need from the outside world. Tests build one
// pointing at fixture trees and buffers.
type Factory struct {
	IOStreams *iostreams.IOStreams
	// Roots are where the host is read from: /proc, /proc/sys and
	// /run/netns, or the fixture trees named by BACKLOGCTL_PROC_ROOT,
	// BACKLOGCTL_SYSCTL_ROOT and BACKLOGCTL_NETNS_ROOT; and the container
	// runtime's CRI socket named by CONTAINER_RUNTIME_ENDPOINT (crictl's
	// variable), if set.
	Roots hostfs.Roots
	// Version, Commit and Date are set by the release build.
	Version string
	Commit  string
	Date    string
}

// Fixture variables that end-to-end tests use to point the binary at
// procfs-style trees.
const (
	EnvProcRoot  = "BACKLOGCTL_PROC_ROOT"
	EnvSysRoot   = "BACKLOGCTL_SYSCTL_ROOT"
	EnvNetnsRoot = "BACKLOGCTL_NETNS_ROOT"
)

// New returns the factory for a real run, honouring the fixture variables.
func New(version string) *Factory {
	return &Factory{IOStreams: iostreams.System(), Roots: RootsFromEnv(), Version: version}
}

// RootsFromEnv is the host's roots, each replaced by its fixture variable
// when that is set.
func RootsFromEnv() hostfs.Roots {
	r := hostfs.Host()
	if v := os.Getenv(EnvProcRoot); v != "" {
		r.Proc = v
	}
	if v := os.Getenv(EnvSysRoot); v != "" {
		r.Sys = v
	}
	if v := os.Getenv(EnvNetnsRoot); v != "" {
		r.Netns = v
	}
	r.Runtime = os.Getenv(hostfs.EnvRuntimeEndpoint)
	return r
}
