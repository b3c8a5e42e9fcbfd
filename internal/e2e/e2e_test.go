// Package e2e runs the built backlogctl binary the way an operator or a
// script would, inside network namespaces the tests create.
package e2e

import (
	"bytes"
	"errors"
	"os/exec"
	"testing"

	"github.com/backlogctl/backlogctl/internal/nstest"
)

// bin is the backlogctl binary built once for the package's tests.
var bin string

// The binary's directory is readable by the unprivileged user the
// privilege tests switch to.
func TestMain(m *testing.M) { nstest.MainBuilt(m, &bin, 0o755) }

// result is one run of the binary.
type result struct {
	stdout, stderr string
	code           int
}

// run executes argv (the binary is argv[0] unless a wrapper like setpriv is
// given first) and returns its output and exit code.
func run(t *testing.T, argv ...string) result {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("running %v: %v", argv, err)
	}
	return r
}
