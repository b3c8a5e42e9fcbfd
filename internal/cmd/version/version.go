// Package version is the `backlogctl version` command and the text of
// `backlogctl --version`.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
)

// Info says which build this is; the table and the JSON are drawn from it.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
	// Modified: built from a source tree with uncommitted changes
	// (vcs.modified in the Go build information).
	Modified bool `json:"modified,omitempty"`
}

// Options are version's inputs; tests fill them and call versionRun directly.
type Options struct {
	IO     *iostreams.IOStreams
	Info   Info
	Output string
}

var formats = []string{"table", "json"}

// NewCmdVersion returns the version command. runF replaces versionRun in tests.
func NewCmdVersion(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Info: Build(f)}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Show backlogctl's version, commit, build date and Go version",
		Long: `Show which backlogctl this is: the release version, the commit it was built
from, the build date, and the Go toolchain and platform. Release builds set
these with -ldflags; a build from a git clone reports the commit, its time
and whether the tree had uncommitted changes, as the Go toolchain recorded
them (vcs.revision, vcs.time, vcs.modified); only a build without that record
says dev/none/unknown. backlogctl --version prints the same text.`,
		Example: `  backlogctl version
  backlogctl version -o json | jq -r .version`,
		Args: cmdutil.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := cmdutil.CheckOutput(opts.Output, formats...); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return versionRun(opts)
		},
	}
	cmdutil.AddOutputFlag(cmd, opts.IO, &opts.Output, formats...)
	return cmd
}

func versionRun(o *Options) error {
	if o.Output == "json" {
		return cmdutil.PrintData(o.IO, o.Info)
	}
	_, err := fmt.Fprint(o.IO.Out, Text(o.Info))
	return err
}

// Text is the human-readable version, as `version` and `--version` print it.
func Text(i Info) string {
	commit := i.Commit
	if i.Modified {
		commit += " (with uncommitted changes)"
	}
	return fmt.Sprintf("backlogctl %s\ncommit: %s\nbuilt: %s\ngo: %s %s\n",
		i.Version, commit, i.Date, i.GoVersion, i.Platform)
}

// Build returns the build's Info: what the release build set with -ldflags,
// completed from the Go toolchain's build information for `go install`
// builds (module version, VCS revision and time) when those were left unset.
func Build(f *cmdutil.Factory) Info {
	i := Info{
		Version: f.Version, Commit: f.Commit, Date: f.Date,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		fillFromBuildInfo(&i, bi)
	}
	for _, s := range []*string{&i.Version, &i.Commit, &i.Date} {
		if *s == "" {
			*s = "unknown"
		}
	}
	return i
}

// fillFromBuildInfo fills fields the linker did not set (dev, none, unknown
// or empty) from the toolchain's record: vcs.revision, vcs.time and
// vcs.modified, which `go build` stamps in a git clone (not in a linked git
// worktree, whose .git is a file the toolchain does not follow).
func fillFromBuildInfo(i *Info, bi *debug.BuildInfo) {
	unset := func(s string) bool { return s == "" || s == "dev" || s == "none" || s == "unknown" }
	commitFromVCS := unset(i.Commit)
	if unset(i.Version) && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		i.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision" && unset(i.Commit):
			i.Commit = s.Value
		case s.Key == "vcs.time" && unset(i.Date):
			i.Date = s.Value
		case s.Key == "vcs.modified" && commitFromVCS:
			i.Modified = s.Value == "true"
		}
	}
}
