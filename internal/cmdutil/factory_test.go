package cmdutil

import (
	"testing"

	"github.com/backlogctl/backlogctl/hostfs"
)

// Each fixture variable replaces its own root and no other.
func TestRootsFromEnv(t *testing.T) {
	t.Setenv(EnvProcRoot, "")
	t.Setenv(EnvSysRoot, "")
	t.Setenv(EnvNetnsRoot, "")
	if got := RootsFromEnv(); got != hostfs.Host() {
		t.Errorf("without the variables: %+v, want the host's %+v", got, hostfs.Host())
	}
	t.Setenv(EnvSysRoot, "/fixture/sys")
	t.Setenv(EnvNetnsRoot, "/fixture/netns")
	want := hostfs.Roots{Proc: "/proc", Sys: "/fixture/sys", Netns: "/fixture/netns"}
	if got := New("test").Roots; got != want {
		t.Errorf("with sys and netns set: %+v, want %+v", got, want)
	}
}
