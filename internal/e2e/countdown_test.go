package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/backlogctl/backlogctl/internal/nstest"
)

// runWithTerminalStderr runs the binary with stderr (and stdin, the
// controlling terminal) on a pty, stdout a pipe, and returns stdout and what
// the terminal showed.
func runWithTerminalStderr(t *testing.T, args ...string) (stdout, screen string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 200, Rows: 40})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var shown bytes.Buffer
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(&shown, tty) // ends with EIO once the command has exited
		close(copied)
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %v\nterminal: %q", args, err, shown.String())
	}
	<-copied
	return out.String(), shown.String()
}

// While advise --interval and check --observe wait, a terminal's stderr
// shows what is watched and a countdown, cleared when they finish; a pipe
// gets none of it.
func TestCountdownWhileWaiting(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"advise", "--interval", "2s", "--port", "80"}, "backlogctl: sampling the listeners on port 80 and the counters 2s apart: 2s left"},
		{[]string{"check", "--observe", "2s", "--require", "somaxconn>=1"}, "backlogctl: observing the listeners and the counters for 2s (Ctrl-C ends the window early): 2s left"},
	} {
		_, screen := runWithTerminalStderr(t, tt.args...)
		if !strings.Contains(screen, tt.want) || !strings.Contains(screen, "1s left") {
			t.Errorf("%v: the terminal showed %q, want %q counting down", tt.args, screen, tt.want)
		}
		if !strings.HasSuffix(screen, "\r\x1b[K") {
			t.Errorf("%v: the countdown's line is not cleared at the end: %q", tt.args, screen)
		}
		r := run(t, append([]string{bin}, tt.args...)...)
		if strings.Contains(r.stderr, "left") || strings.Contains(r.stderr, "\r") {
			t.Errorf("%v: a countdown into a pipe: %q", tt.args, r.stderr)
		}
	}
}

// trace --duration D traces for D once its programs are attached, and says
// so: its last report spans at least D, and a terminal's stderr counted
// down meanwhile.
func TestTraceDurationStartsWhenTracing(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		t.Skip("this kernel has no BTF (/sys/kernel/btf/vmlinux): trace cannot run")
	}
	const d = 2 * time.Second
	out, screen := runWithTerminalStderr(t, "trace", "--duration", d.String(), "--interval", "10s", "-o", "json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var last struct {
		Time  time.Time `json:"time"`
		Since time.Time `json:"since"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatalf("last report: %v\n%s", err, out)
	}
	if traced := last.Time.Sub(last.Since); traced < d {
		t.Errorf("traced %s of --duration %s: loading counted against it", traced, d)
	}
	if !strings.Contains(screen, "backlogctl: tracing the listeners with eBPF for 2s: ") {
		t.Errorf("no countdown on the terminal: %q", screen)
	}
}
