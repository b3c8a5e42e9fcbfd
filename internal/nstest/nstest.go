// Package nstest runs integration tests against the real kernel without
// touching the host: each test re-executes itself under `unshare -n`, so its
// listeners, connections, sysctls and nftables rules live in a network
// namespace of its own that vanishes when the test ends.
package nstest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/backlogctl/backlogctl/sysctl"
)

// childEnv names the test a re-executed child should run in its namespace.
const childEnv = "BACKLOGCTL_NSTEST_CHILD"

// RequireRoot skips a test that needs root when not root, saying why; under
// CI (CI=true) it fails instead, because nothing may skip there.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s needs root (network namespaces, sysctls); CI must run as root", t.Name())
	}
	t.Skipf("%s needs root to create a network namespace; run the suite as root (see README)", t.Name())
}

// InChild reports whether this process is a re-executed child running test name.
func InChild(t testing.TB) bool {
	return os.Getenv(childEnv) == t.Name()
}

// Isolate makes the calling top-level test run in a private network
// namespace. In the parent it re-runs only this test under `unshare -n`,
// reports the child's result and returns false: the caller must return. In
// the child it brings loopback up and returns true: the caller goes on.
//
//	if !nstest.Isolate(t) { return }
func Isolate(t *testing.T) bool {
	t.Helper()
	if InChild(t) {
		if err := exec.Command("ip", "link", "set", "lo", "up").Run(); err != nil {
			t.Fatalf("bringing up loopback in the test namespace: %v (is iproute2 installed?)", err)
		}
		return true
	}
	RequireRoot(t)
	if strings.Contains(t.Name(), "/") {
		t.Fatalf("nstest.Isolate must be called from a top-level test, not %s", t.Name())
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatalf("unshare (util-linux) not found: %v", err)
	}
	args := []string{"-n", os.Args[0], "-test.run", "^" + regexp.QuoteMeta(t.Name()) + "$", "-test.v", "-test.count=1"}
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	text := out.String()
	if err != nil {
		t.Fatalf("in its network namespace, %s failed (%v):\n%s", t.Name(), err, text)
	}
	if strings.Contains(text, "--- SKIP") {
		t.Fatalf("in its network namespace, %s skipped:\n%s", t.Name(), text)
	}
	if !strings.Contains(text, "--- PASS: "+t.Name()) {
		t.Fatalf("in its network namespace, %s did not report a pass:\n%s", t.Name(), text)
	}
	if testing.Verbose() {
		t.Logf("child output:\n%s", text)
	}
	return false
}

// SetSysctl writes a per-network-namespace tunable inside the test's
// namespace. It refuses global keys and refuses to run outside a child, so a
// test can never change the host.
func SetSysctl(t testing.TB, name string, value int64) {
	t.Helper()
	if os.Getenv(childEnv) == "" {
		t.Fatalf("SetSysctl(%s) outside a test network namespace: refusing to touch the host", name)
	}
	if k, ok := sysctl.Lookup(name); ok && k.Scope != sysctl.ScopeNetns {
		t.Fatalf("SetSysctl(%s): a global key would change the host", name)
	} else if !ok && !strings.HasPrefix(name, "net.") {
		t.Fatalf("SetSysctl(%s): only net.* keys are per network namespace", name)
	}
	if err := sysctl.NewFS("").Write(name, fmt.Sprint(value)); err != nil {
		t.Fatalf("setting %s=%d in the test namespace: %v", name, value, err)
	}
}
