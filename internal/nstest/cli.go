package nstest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// cliEnv tells a re-executed test binary to be backlogctl instead.
const cliEnv = "BACKLOGCTL_NSTEST_CLI"

// Main is a TestMain body for packages that run the real command line: when
// RunCLI started this process it runs main (app.Main) and exits with its
// code; otherwise it runs the tests.
//
//	func TestMain(m *testing.M) { nstest.Main(m, app.Main) }
func Main(m *testing.M, main func() int) {
	if os.Getenv(cliEnv) == "1" {
		os.Exit(main())
	}
	code := m.Run()
	if worldBin != "" {
		os.RemoveAll(filepath.Dir(worldBin))
	}
	os.Exit(code)
}

// MainBuilt is a TestMain body for packages that run backlogctl as a built
// binary (go build ./cmd/backlogctl): it builds it into a new directory of
// mode dirMode (0o755 when another user must run it), sets *bin to its
// path, runs the tests and removes the directory.
//
//	func TestMain(m *testing.M) { nstest.MainBuilt(m, &bin, 0o700) }
func MainBuilt(m *testing.M, bin *string, dirMode os.FileMode) {
	dir, err := os.MkdirTemp("", "backlogctl-bin-")
	if err == nil {
		err = os.Chmod(dir, dirMode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin = filepath.Join(dir, "backlogctl")
	build := exec.Command("go", "build", "-o", *bin, "github.com/backlogctl/backlogctl/cmd/backlogctl")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building backlogctl:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// CLI describes one run of backlogctl as a user would type it.
type CLI struct {
	Args []string
	// Env adds KEY=VALUE pairs (fixture roots, search dirs).
	Env []string
	// Stdin is what the user types; not a terminal.
	Stdin string
	// UID, when not 0, runs the command as that user (no permission tests).
	UID uint32
}

// Result is what a run printed and its exit code.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// RunCLI runs the test binary as backlogctl (see Main) with c's arguments,
// in the test's own namespaces, and returns what it printed.
func RunCLI(t testing.TB, c CLI) Result {
	t.Helper()
	bin := os.Args[0]
	if c.UID != 0 {
		bin = worldExecutable(t)
	}
	cmd := exec.Command(bin, c.Args...)
	cmd.Env = append(append(os.Environ(), cliEnv+"=1"), c.Env...)
	cmd.Stdin = strings.NewReader(c.Stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if c.UID != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: c.UID, Gid: c.UID}}
	}
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running backlogctl %v: %v", c.Args, err)
	}
	return Result{Stdout: out.String(), Stderr: errOut.String(), Code: code}
}

var (
	worldBinOnce sync.Once
	worldBin     string
	worldBinErr  error
)

// worldExecutable copies the test binary where any user may run it (go test
// builds it in a directory only root can enter); Main removes the copy.
func worldExecutable(t testing.TB) string {
	t.Helper()
	worldBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "backlogctl-cli-")
		if err != nil {
			worldBinErr = err
			return
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			worldBinErr = err
			return
		}
		worldBin = filepath.Join(dir, "backlogctl")
		worldBinErr = copyFile(os.Args[0], worldBin, 0o755)
	})
	if worldBinErr != nil {
		t.Fatalf("copying the test binary for another user: %v", worldBinErr)
	}
	return worldBin
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// CLICommand is the test binary as backlogctl (see Main) with args, not yet
// started: for tests that signal a long-running command while it runs.
func CLICommand(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), cliEnv+"=1")
	return cmd
}

// WorldCLICommand is CLICommand for a binary any user may run (a copy of
// the test binary): for tests that run backlogctl as another user, with
// their own credentials or capabilities (setpriv).
func WorldCLICommand(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(worldExecutable(t), args...)
	cmd.Env = append(os.Environ(), cliEnv+"=1")
	return cmd
}
