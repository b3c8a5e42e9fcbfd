package check

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/backlogctl/backlogctl/internal/nstest"
)

// buildBinary builds backlogctl into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "backlogctl")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/backlogctl/backlogctl/cmd/backlogctl")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building backlogctl: %v\n%s", err, out)
	}
	return bin
}

// The built binary's exit codes, in a namespace with somaxconn 8 and one
// listener whose listen(1000) was clamped to 8.
func TestCheckBinaryExitCodes(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	bin := buildBinary(t)
	nstest.SetSysctl(t, "net.core.somaxconn", 8)
	_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 1000, nstest.ListenOpts{})
	port := strconv.Itoa(int(ep.Port()))
	// Port 1 is the port nothing listens on: the namespace is fresh.
	badPolicy := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(badPolicy, []byte("require:\n  - somaxconn >= 8\n  - somaxconn => 8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string // substring
		stderr     string // substring
		quietCheck bool
	}{
		{name: "holds", args: []string{"--require", "somaxconn==8", "--port", port, "--require", "listener.accept_queue_max >= 8", "--require", "process.nofile_soft>=1"},
			code: 0, stdout: "PASS\tlistener.accept_queue_max\t8 (" + ep.String() + ")"},
		{name: "fails", args: []string{"--require", "somaxconn>=4096"}, code: 1, stdout: "FAIL\tnet.core.somaxconn\t8\t>= 4096\tlisten() clamps"},
		{name: "clamped backlog", args: []string{"--port", port, "--require", "listener.accept_queue_max>=1000"}, code: 1, stdout: "FAIL\tlistener.accept_queue_max\t8 ("},
		{name: "bad expression", args: []string{"--require", "somaxconn=>8"}, code: 2, stderr: `unknown operator "=>"`},
		{name: "bad policy", args: []string{"--policy", badPolicy}, code: 2, stderr: badPolicy + ": line 3:"},
		{name: "unknown flag", args: []string{"--requre", "somaxconn>=1"}, code: 2, stderr: "unknown flag"},
		{name: "no listener matched", args: []string{"--port", "1", "--require", "listener.fill<=0.8"}, code: 3, stdout: "ERROR\tlistener.fill\t-\t<= 0.8\tno listener matched (port 1)"},
		{name: "missing=pass", args: []string{"--port", "1", "--require", "listener.fill<=0.8", "--missing=pass"}, code: 0},
		{name: "missing=fail", args: []string{"--port", "1", "--require", "listener.fill<=0.8", "--missing=fail"}, code: 1},
		{name: "global key absent in a child namespace", args: []string{"--require", "netdev_max_backlog>=1000"}, code: 3, stdout: "not visible here"},
		{name: "quiet", args: []string{"-q", "--require", "somaxconn>=4096"}, code: 1, quietCheck: true},
		{name: "quiet observe", args: []string{"-q", "--observe", "300ms", "--require", "counter.TcpExtListenOverflows==0", "--port", port, "--require", "listener.drops==0"}, code: 0, quietCheck: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"check"}, tt.args...)...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("stdout does not contain %q:\n%s", tt.stdout, stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr does not contain %q:\n%s", tt.stderr, stderr.String())
			}
			if tt.quietCheck && stdout.Len()+stderr.Len() > 0 {
				t.Errorf("-q printed %q / %q", stdout.String(), stderr.String())
			}
		})
	}
}
