package cmdutil

import (
	"os"

	"github.com/backlogctl/backlogctl/internal/iostreams"
)

// Factory carries what commands need from the outside world. Tests build one
// pointing at fixture trees and buffers.
type Factory struct {
	IOStreams *iostreams.IOStreams
	// ProcRoot is /proc, or the BACKLOGCTL_PROC_ROOT fixture tree.
	ProcRoot string
	// SysRoot is /proc/sys, or the BACKLOGCTL_SYSCTL_ROOT fixture tree.
	SysRoot string
	// Version, Commit and Date are set by the release build.
	Version string
	Commit  string
	Date    string
}

// New returns the factory for a real run, honouring the fixture variables that
// end-to-end tests use to point the binary at procfs-style trees.
func New(version string) *Factory {
	f := &Factory{
		IOStreams: iostreams.System(),
		ProcRoot:  "/proc",
		SysRoot:   "/proc/sys",
		Version:   version,
	}
	if v := os.Getenv("BACKLOGCTL_PROC_ROOT"); v != "" {
		f.ProcRoot = v
	}
	if v := os.Getenv("BACKLOGCTL_SYSCTL_ROOT"); v != "" {
		f.SysRoot = v
	}
	return f
}
