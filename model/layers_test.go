package model_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/backlogctl/backlogctl/"

// judges are the packages that judge or render a model: they must build
// from the model alone, without the collector (netlink, /proc, setns).
var judges = []string{"advise", "check", "metrics"}

// allowed are the only packages of this module a judge may link: the model,
// the data-only sysctl registry, JSON formatting, the judges themselves
// (check reuses advise's rules), and the reader of a file the user names
// (check's policy), which reads no host state.
var allowed = []string{"model", "sysctl/registry", "internal/jsonfmt", "internal/userfile", "advise", "check", "metrics"}

// TestJudgesDoNotImportTheCollector lists every package each judge links
// (`go list -deps`, tests excluded) and fails on any package of this module
// outside allowed, such as inspect, netns, rlimit or sysctl, and on the
// netlink libraries.
func TestJudgesDoNotImportTheCollector(t *testing.T) {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := exec.LookPath(gobin); err != nil {
		if gobin, err = exec.LookPath("go"); err != nil {
			t.Skip("no go command to list imports with")
		}
	}
	for _, judge := range judges {
		t.Run(judge, func(t *testing.T) {
			cmd := exec.Command(gobin, "list", "-deps", "-f", "{{.ImportPath}}", module+judge)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v", judge, err)
			}
			deps := strings.Fields(string(out))
			if !slices.Contains(deps, module+"model") && judge != "model" {
				t.Errorf("%s does not link the model; is the package list stale?", judge)
			}
			for _, dep := range deps {
				if strings.HasPrefix(dep, "github.com/vishvananda/") {
					t.Errorf("%s links %s, a netlink library", judge, dep)
				}
				rel, ours := strings.CutPrefix(dep, module)
				if ours && !slices.Contains(allowed, rel) {
					t.Errorf("%s links %s, which is not the model: judges must not import the collector", judge, rel)
				}
			}
		})
	}
}
