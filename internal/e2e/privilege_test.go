package e2e

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/backlogctl/backlogctl/internal/nstest"
)

// asNobody wraps a command to run as the unprivileged user nobody.
func asNobody(args ...string) []string {
	return append([]string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", bin}, args...)
}

// Read-only commands work without root: inspect still lists every listener,
// and says once that it could not see the owners of other users' sockets.
func TestInspectWithoutRoot(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatalf("setpriv (util-linux) is needed: %v", err)
	}
	_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 16, nstest.ListenOpts{})

	r := run(t, asNobody("inspect", "-o", "json")...)
	if r.code != 0 {
		t.Fatalf("inspect as nobody: exit %d, stderr %q", r.code, r.stderr)
	}
	var snap struct {
		Listeners []struct {
			Port      uint16 `json:"port"`
			Processes []any  `json:"processes"`
		} `json:"listeners"`
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &snap); err != nil {
		t.Fatalf("inspect -o json as nobody: %v\n%s", err, r.stdout)
	}
	found := false
	for _, l := range snap.Listeners {
		if l.Port == ep.Port() {
			found = true
			if len(l.Processes) != 0 {
				t.Errorf("nobody should not see root's descriptors, got owners %v", l.Processes)
			}
		}
	}
	if !found {
		t.Fatalf("listener on port %d missing from unprivileged inspect: %s", ep.Port(), r.stdout)
	}
	if len(snap.Warnings) == 0 || !strings.Contains(strings.Join(snap.Warnings, "\n"), "descriptors") {
		t.Errorf("warnings = %q, want one saying owners could not be seen", snap.Warnings)
	}

	// The table form says it once, on stderr, and still exits 0.
	r = run(t, asNobody("inspect")...)
	if r.code != 0 {
		t.Fatalf("inspect (table) as nobody: exit %d, stderr %q", r.code, r.stderr)
	}
	if n := strings.Count(r.stderr, "descriptors"); n != 1 {
		t.Errorf("stderr mentions the unreadable descriptors %d times, want once:\n%s", n, r.stderr)
	}
	if !strings.Contains(r.stdout, strconv.Itoa(int(ep.Port()))) {
		t.Errorf("table output lacks port %d:\n%s", ep.Port(), r.stdout)
	}
}

// No code path hands user input to a shell: no non-test source file runs
// sh, bash or any "-c" interpreter through os/exec.
func TestNoShellInvocations(t *testing.T) {
	root := "../.."
	shells := map[string]bool{"sh": true, "bash": true, "/bin/sh": true, "/bin/bash": true, "/usr/bin/sh": true, "/usr/bin/bash": true, "zsh": true, "dash": true}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "dist" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Command" && sel.Sel.Name != "CommandContext") {
				return true
			}
			arg := call.Args[0]
			if sel.Sel.Name == "CommandContext" && len(call.Args) > 1 {
				arg = call.Args[1]
			}
			if lit, ok := arg.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				name, _ := strconv.Unquote(lit.Value)
				if shells[name] {
					t.Errorf("%s: runs the shell %q", fset.Position(call.Pos()), name)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Without root no other network namespace can be entered: inspect
// --all-netns says which it skipped and why, and exits 3, instead of an
// empty report and exit 0.
func TestInspectAllNetnsWithoutRoot(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatalf("setpriv (util-linux) is needed: %v", err)
	}
	for _, args := range [][]string{{"inspect", "--all-netns"}, {"inspect", "--all-netns", "-o", "json"}} {
		r := run(t, asNobody(args...)...)
		if r.code != 3 {
			t.Errorf("%v as nobody: exit %d, want 3\nstdout %q\nstderr %q", args, r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stderr, "skipped") || !strings.Contains(r.stderr, "needs root") {
			t.Errorf("%v as nobody: stderr does not say what was skipped and why:\n%s", args, r.stderr)
		}
		if strings.Count(strings.TrimSpace(r.stderr), "\n")+1 < 2 {
			t.Errorf("%v as nobody: want a note per skipped namespace and the error:\n%s", args, r.stderr)
		}
	}
	// as root the same command reads this test's namespace and exits 0
	r := run(t, bin, "inspect", "--all-netns")
	if r.code != 0 || !strings.Contains(r.stdout, "## network namespace") {
		t.Errorf("inspect --all-netns as root: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}
