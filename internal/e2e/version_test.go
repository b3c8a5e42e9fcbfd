package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A build from a git clone, without release ldflags, reports the commit it
// was built from, the commit's time and whether the tree had changes, from
// the Go build information, not dev/none/unknown.
func TestVersionOfASourceBuild(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is needed to make a clone to build from")
	}
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not inside a git checkout: %v", err)
	}
	clone := filepath.Join(t.TempDir(), "src")
	git := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("git", append([]string{"-C", clone}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "clone", "--quiet", "--no-hardlinks", strings.TrimSpace(string(top)), clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	head := git("rev-parse", "HEAD")
	// an uncommitted change makes the build "modified"
	if err := os.WriteFile(filepath.Join(clone, "LOCAL-CHANGE"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(t.TempDir(), "backlogctl")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", exe, "./cmd/backlogctl")
	build.Dir = clone
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build in the clone: %v\n%s", err, out)
	}
	out, err := exec.Command(exe, "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("version: %v", err)
	}
	var got struct {
		Version  string `json:"version"`
		Commit   string `json:"commit"`
		Date     string `json:"date"`
		Modified bool   `json:"modified"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("version -o json: %v\n%s", err, out)
	}
	if got.Commit != head || got.Date == "unknown" || got.Date == "" || !got.Modified {
		t.Errorf("version of a source build = %+v, want commit %s, its time and modified", got, head)
	}
	text, _ := exec.Command(exe, "version").Output()
	if !strings.Contains(string(text), "commit: "+head+" (with uncommitted changes)") {
		t.Errorf("version text:\n%s", text)
	}
}
