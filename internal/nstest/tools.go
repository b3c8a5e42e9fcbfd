package nstest

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// LookTool finds a binary the suite installs (nginx, wrk, promtool...);
// without it a test skips locally and fails under CI, where scripts/test.sh
// installs it.
func LookTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found: scripts/test.sh installs it", name)
		}
		t.Skipf("%s not found (see the need table in scripts/test.sh)", name)
	}
	return p
}

// Wrk runs wrk against url with conns connections for d (bounded: wrk
// stops itself) and returns its output.
func Wrk(t testing.TB, url string, conns int, d time.Duration) string {
	t.Helper()
	bin := LookTool(t, "wrk")
	out, err := exec.Command(bin, "-t", "2", "-c", fmt.Sprint(conns), "-d", fmt.Sprintf("%ds", max(1, int(d.Seconds()))), url).CombinedOutput()
	if err != nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	return string(out)
}
