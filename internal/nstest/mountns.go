package nstest

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// mountEnv marks a child that also has a private mount namespace.
const mountEnv = "BACKLOGCTL_NSTEST_MOUNTNS"

// IsolateMount is Isolate with a private mount namespace as well: the test
// re-runs under `unshare -m -n` and, in the child, every mount is made
// private (mount --make-rprivate /), so BindReadOnly and other mounts the
// test makes are invisible to the host and vanish with the child.
//
//	if !nstest.IsolateMount(t) { return }
func IsolateMount(t *testing.T) bool {
	t.Helper()
	if InChild(t) {
		if os.Getenv(mountEnv) != "1" {
			t.Fatalf("%s: child without a private mount namespace", t.Name())
		}
		run(t, "mount", "--make-rprivate", "/")
		run(t, "ip", "link", "set", "lo", "up")
		return true
	}
	RequireRoot(t)
	if strings.Contains(t.Name(), "/") {
		t.Fatalf("nstest.IsolateMount must be called from a top-level test, not %s", t.Name())
	}
	for _, tool := range []string{"unshare", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s (util-linux) not found: %v", tool, err)
		}
	}
	args := []string{"-m", "-n", os.Args[0], "-test.run", "^" + regexp.QuoteMeta(t.Name()) + "$", "-test.v", "-test.count=1"}
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name(), mountEnv+"=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	text := out.String()
	switch {
	case err != nil:
		t.Fatalf("in its network and mount namespaces, %s failed (%v):\n%s", t.Name(), err, text)
	case strings.Contains(text, "--- SKIP"):
		t.Fatalf("in its network and mount namespaces, %s skipped:\n%s", t.Name(), text)
	case !strings.Contains(text, "--- PASS: "+t.Name()):
		t.Fatalf("in its network and mount namespaces, %s did not report a pass:\n%s", t.Name(), text)
	}
	if testing.Verbose() {
		t.Logf("child output:\n%s", text)
	}
	return false
}

// BindReadOnly makes path read-only until the test ends by bind-mounting it
// onto itself read-only: a write to a /proc/sys file then fails with EROFS,
// as in a container. It refuses to run outside an IsolateMount child, so the
// host's mounts are never touched. The returned func makes path writable
// again before the test ends (calling it is optional).
func BindReadOnly(t testing.TB, path string) (release func()) {
	t.Helper()
	if os.Getenv(mountEnv) != "1" || os.Getenv(childEnv) == "" {
		t.Fatalf("BindReadOnly(%s) outside a private mount namespace: refusing to touch the host", path)
	}
	run(t, "mount", "--bind", path, path)
	var once sync.Once
	release = func() { once.Do(func() { run(t, "umount", path) }) }
	// Undone before earlier cleanups run, so t.TempDir can remove what it made.
	t.Cleanup(release)
	run(t, "mount", "-o", "remount,bind,ro", path)
	return release
}

// BindFile lays a regular file holding content over path (a /proc/sys key)
// until the test ends, and returns the file: a write through path then
// lands in it instead of the kernel, so a test can show a write that must
// not happen (a global key) without changing the host. It refuses to run
// outside an IsolateMount child.
func BindFile(t testing.TB, path, content string) string {
	t.Helper()
	if os.Getenv(mountEnv) != "1" || os.Getenv(childEnv) == "" {
		t.Fatalf("BindFile(%s) outside a private mount namespace: refusing to touch the host", path)
	}
	f, err := os.CreateTemp("", "backlogctl-bind-")
	if err != nil {
		t.Fatal(err)
	}
	name := f.Name()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	f.Close()
	run(t, "mount", "--bind", name, path)
	t.Cleanup(func() {
		run(t, "umount", path)
		os.Remove(name)
	})
	return name
}

// InFreshNetns runs a command in a new, empty network namespace of its own
// (`unshare -n`), where every per-netns tunable starts from the kernel's
// defaults, and returns its combined output.
func InFreshNetns(t testing.TB, name string, args ...string) string {
	t.Helper()
	if os.Getenv(childEnv) == "" {
		t.Fatalf("InFreshNetns(%s) outside a test namespace: refusing to touch the host", name)
	}
	out, err := exec.Command("unshare", append([]string{"-n", name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("unshare -n %s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
