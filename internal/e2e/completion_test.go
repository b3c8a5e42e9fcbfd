package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/netns/netnstest"
)

// bashCompletionScript is the bash-completion package's entry point.
const bashCompletionScript = "/usr/share/bash-completion/bash_completion"

// Completion in a real interactive bash, as a user presses Tab: once
// without the bash-completion package (cobra's script needs its
// _get_comp_words_by_ref; backlogctl's provides a stand-in), once with it.
// Each line is typed with a Tab and Enter; "backlogctl" is a wrapper that
// hands __complete to the binary and otherwise prints the completed line.
func TestBashCompletion(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatalf("bash is needed: %v", err)
	}
	name := netnstest.Named(t)
	_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 16, nstest.ListenOpts{})
	port := strconv.Itoa(int(ep.Port()))
	pid := strconv.Itoa(os.Getpid())
	cases := []struct{ typed, want string }{
		{"insp", "inspect"},
		{"inspect --po", "inspect --port"},
		{"inspect --output=ya", "inspect --output=yaml"},
		{"inspect -o wi", "inspect -o wide"},
		{"explain syn-q", "explain syn-queue"},
		{"sysctl get somaxc", "sysctl get somaxconn"},
		{"tune --set tcp_syncoo", "tune --set tcp_syncookies="},
		{"check --require listener.fi", "check --require listener.fill"},
		{"inspect --netns " + name[:len(name)-1], "inspect --netns " + name},
		{"inspect --port " + port[:len(port)-1], "inspect --port " + port},
		{"rlimit --pid " + pid[:len(pid)-1], "rlimit --pid " + pid},
	}
	for _, withPackage := range []bool{false, true} {
		t.Run(fmt.Sprintf("bash-completion=%v", withPackage), func(t *testing.T) {
			if withPackage {
				if _, err := os.Stat(bashCompletionScript); err != nil {
					if os.Getenv("CI") == "true" {
						t.Fatalf("the bash-completion package is needed (scripts/test.sh installs it): %v", err)
					}
					t.Skipf("the bash-completion package is not installed (%v): apt-get install bash-completion", err)
				}
			}
			sh := startBash(t, withPackage)
			for _, c := range cases {
				if got := sh.complete(t, c.typed); got != c.want {
					t.Errorf("%q<Tab>: got %q, want %q", c.typed, got, c.want)
				}
			}
		})
	}
}

// bashSession is an interactive bash on a pty.
type bashSession struct {
	tty    *os.File
	mu     sync.Mutex
	screen bytes.Buffer
	n      int // lines completed so far
}

func startBash(t *testing.T, withPackage bool) *bashSession {
	t.Helper()
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "backlogctl")
	// The completed line is printed between markers, one per line.
	script := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = __complete ]; then exec %s \"$@\"; fi\necho \"<<<backlogctl $*>>>\"\n", bin)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(dir, "rc")
	var setup strings.Builder
	if withPackage {
		fmt.Fprintf(&setup, "source %s\n", bashCompletionScript)
	}
	fmt.Fprintf(&setup, "PATH=%s:$PATH\nsource <(%s completion bash)\nPS1='$ '\nbind 'set bell-style none'\n", dir, bin)
	if err := os.WriteFile(rc, []byte(setup.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "--norc", "--noprofile", "-i")
	cmd.Env = append(os.Environ(), "TERM=dumb", "INPUTRC=/dev/null", "HISTFILE=/dev/null")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 500, Rows: 50})
	if err != nil {
		t.Fatal(err)
	}
	s := &bashSession{tty: tty}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			s.mu.Lock()
			s.screen.Write(buf[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		_, _ = io.WriteString(tty, "exit\n")
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(time.Minute): // a backstop; bash exits at once
			_ = cmd.Process.Kill()
			<-done
		}
		tty.Close()
	})
	if _, err := fmt.Fprintf(tty, "source %s; echo '<<<'ready'>>>'\n", rc); err != nil {
		t.Fatal(err)
	}
	s.wait(t, 1)
	return s
}

// marked returns the lines printed between <<< and >>>.
func (s *bashSession) marked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, part := range strings.Split(s.screen.String(), "<<<")[1:] {
		if body, _, ok := strings.Cut(part, ">>>"); ok && !strings.Contains(body, "'") {
			out = append(out, body)
		}
	}
	return out
}

func (s *bashSession) wait(t *testing.T, n int) []string {
	t.Helper()
	var got []string
	nstest.Eventually(t, time.Minute, fmt.Sprintf("bash to print line %d", n), func() bool {
		got = s.marked()
		return len(got) >= n
	})
	return got
}

// complete types "backlogctl TYPED", a Tab and Enter, and returns the line
// as completed, without "backlogctl " and trailing blanks.
func (s *bashSession) complete(t *testing.T, typed string) string {
	t.Helper()
	// Readline runs the completion for the Tab before it reads the Enter
	// queued behind it: both can be typed at once.
	if _, err := io.WriteString(s.tty, "backlogctl "+typed+"\t\n"); err != nil {
		t.Fatal(err)
	}
	s.n++
	got := s.wait(t, s.n+1)
	return strings.TrimSpace(strings.TrimPrefix(got[s.n], "backlogctl "))
}
