package version

import (
	"encoding/json"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
)

func TestVersionRun(t *testing.T) {
	info := Info{Version: "1.2.3", Commit: "abc123", Date: "2026-11-23T20:00:00Z", GoVersion: "go1.26.8", Platform: "linux/arm64"}
	ios, _, out, _ := iostreams.Test()
	if err := versionRun(&Options{IO: ios, Info: info, Output: "table"}); err != nil {
		t.Fatal(err)
	}
	want := "backlogctl 1.2.3\ncommit: abc123\nbuilt: 2026-11-23T20:00:00Z\ngo: go1.26.8 linux/arm64\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("text (-want +got):\n%s", diff)
	}

	out.Reset()
	if err := versionRun(&Options{IO: ios, Info: info, Output: "json"}); err != nil {
		t.Fatal(err)
	}
	var got Info
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(info, got); diff != "" {
		t.Errorf("json (-want +got):\n%s", diff)
	}
}

func TestBuildPrefersLinkerValues(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	got := Build(&cmdutil.Factory{IOStreams: ios, Version: "1.2.3", Commit: "abc", Date: "2026-01-02"})
	if diff := cmp.Diff([]string{"1.2.3", "abc", "2026-01-02"}, []string{got.Version, got.Commit, got.Date}); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got.GoVersion == "" || got.Platform == "" {
		t.Errorf("Go version or platform empty: %+v", got)
	}
}

func TestFillFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{
		Main:     debug.Module{Version: "v0.4.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "deadbeef"}, {Key: "vcs.time", Value: "2026-11-01T00:00:00Z"}, {Key: "vcs.modified", Value: "true"}},
	}
	i := Info{Version: "dev", Commit: "none", Date: "unknown"}
	fillFromBuildInfo(&i, bi)
	if diff := cmp.Diff(Info{Version: "v0.4.0", Commit: "deadbeef", Date: "2026-11-01T00:00:00Z", Modified: true}, i); diff != "" {
		t.Errorf("unset fields (-want +got):\n%s", diff)
	}
	set := Info{Version: "1.0.0", Commit: "cafe", Date: "2026-01-01"}
	fillFromBuildInfo(&set, bi)
	if diff := cmp.Diff(Info{Version: "1.0.0", Commit: "cafe", Date: "2026-01-01"}, set); diff != "" {
		t.Errorf("linker values overwritten (-want +got):\n%s", diff)
	}
	if !strings.Contains(Text(i), "commit: deadbeef (with uncommitted changes)\n") {
		t.Errorf("text does not say the tree was modified:\n%s", Text(i))
	}
}
