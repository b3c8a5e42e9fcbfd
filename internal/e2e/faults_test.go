package e2e

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/sysctl"
)

// tuneHost is a private place for tune to write: a state dir and sysctl.d
// search dirs under a temp dir, in the test's own network namespace.
// tmp is the runs' $TMPDIR, on the same filesystem as the rest: nothing
// may be left there.
type tuneHost struct {
	state, etcD, persist, tmp string
}

func newTuneHost(t *testing.T, root string) tuneHost {
	h := tuneHost{
		state: filepath.Join(root, "state"),
		etcD:  filepath.Join(root, "etc", "sysctl.d"),
		tmp:   filepath.Join(root, "tmp"),
	}
	h.persist = filepath.Join(h.etcD, "90-backlogctl.conf")
	for _, d := range []string{h.etcD, h.tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func (h tuneHost) cmd(args ...string) *exec.Cmd { return h.cmdIn(h.state, args...) }

// cmdIn is cmd with another state directory.
func (h tuneHost) cmdIn(state string, args ...string) *exec.Cmd {
	c := exec.Command(bin, append(append([]string{"tune"}, args...), "--state-dir", state)...)
	c.Env = append(os.Environ(), "BACKLOGCTL_SYSCTL_D_DIRS="+h.etcD, "BACKLOGCTL_SYSCTL_CONF=", "TMPDIR="+h.tmp)
	return c
}

// leftovers lists temporary files in $TMPDIR and, when afterNextRun, those
// an interrupted write left beside the record or the sysctl.d file (the
// next run removes them).
func (h tuneHost) leftovers(t *testing.T, afterNextRun bool) []string {
	t.Helper()
	var out []string
	globs := []string{filepath.Join(h.tmp, "*")}
	if afterNextRun {
		globs = append(globs, filepath.Join(h.state, "."+sysctl.StateFile+"*"), filepath.Join(h.etcD, ".90-backlogctl.conf*"))
	}
	for _, g := range globs {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	return out
}

func (h tuneHost) run(t *testing.T, args ...string) result {
	t.Helper()
	return h.runIn(t, h.state, args...)
}

// runIn is run with another state directory.
func (h tuneHost) runIn(t *testing.T, state string, args ...string) result {
	t.Helper()
	c := h.cmdIn(state, args...)
	var out, errOut strings.Builder
	c.Stdout, c.Stderr = &out, &errOut
	err := c.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

func readKey(t *testing.T, key string) int64 {
	t.Helper()
	v, err := sysctl.NewFS("").ReadInt(key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// SIGKILL at any moment of `tune --apply --persist` leaves the state file and
// the sysctl.d file either old or new, never truncated, and `tune --rollback`
// still puts every value (and the sysctl.d file) back. No temporary file is
// ever left in $TMPDIR (here on the same filesystem, where renameio would
// put them), and those left beside the files are gone after the next run. Half the kills are
// timed from the start, half from the moment the record appears.
func TestTuneSurvivesSIGKILL(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	h := newTuneHost(t, t.TempDir())
	origSomax, origRetries := readKey(t, "net.core.somaxconn"), readKey(t, "net.ipv4.tcp_synack_retries")
	apply := func(i int) *exec.Cmd {
		return h.cmd("--set", fmt.Sprintf("somaxconn=%d", 8192+i), "--set", "tcp_synack_retries=7",
			"--apply", "--yes", "--persist="+h.persist)
	}
	// How long one uninterrupted apply takes sets the range of kill delays.
	start := time.Now()
	if out, err := apply(0).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted apply: %v\n%s", err, out)
	}
	full := time.Since(start)
	if r := h.run(t, "--rollback", "--yes"); r.code != 0 {
		t.Fatalf("rollback after a clean apply: exit %d %s", r.code, r.stderr)
	}

	const rounds = 60
	outcomes := map[string]int{}
	for i := 1; i <= rounds; i++ {
		c := apply(i)
		err := startAndSignal(t, c, h.state, i, rounds, full, syscall.SIGKILL)
		outcome := "completed"
		if ws, ok := c.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			outcome = "killed"
		} else if err != nil {
			t.Fatalf("round %d: apply failed on its own: %v", i, err)
		}

		// The record is whole: absent, or valid JSON with a known status.
		st, err := sysctl.LoadState(h.state)
		switch {
		case errors.Is(err, sysctl.ErrNoState):
			outcome += ", no record"
		case err != nil:
			t.Fatalf("round %d (%s): state file damaged: %v", i, outcome, err)
		default:
			outcome += ", record " + string(st.Status)
		}
		// The sysctl.d file is absent or a complete file backlogctl wrote.
		if entries, content, err := sysctl.ReadPersist(h.persist); err != nil {
			t.Fatalf("round %d (%s): sysctl.d file damaged: %v", i, outcome, err)
		} else if content != nil && len(entries) != 2 {
			t.Fatalf("round %d (%s): sysctl.d file has %d entries, want 2:\n%s", i, outcome, len(entries), content)
		}
		// Nothing was written to $TMPDIR: a temporary file is made beside
		// the file it replaces.
		if left := h.leftovers(t, false); len(left) > 0 {
			t.Fatalf("round %d (%s): temporary files left in $TMPDIR: %v", i, outcome, left)
		}
		// Rollback works and puts everything back; "nothing to roll back"
		// is right only if the run died before recording anything new.
		r := h.run(t, "--rollback", "--yes")
		if r.code != 0 && !strings.Contains(r.stderr, "nothing to roll back") {
			t.Fatalf("round %d (%s): rollback: exit %d %s", i, outcome, r.code, r.stderr)
		}
		if left := h.leftovers(t, r.code == 0); len(left) > 0 {
			t.Fatalf("round %d (%s): temporary files left after the next run: %v", i, outcome, left)
		}
		if got := readKey(t, "net.core.somaxconn"); got != origSomax {
			t.Fatalf("round %d (%s): somaxconn %d after rollback, want %d", i, outcome, got, origSomax)
		}
		if got := readKey(t, "net.ipv4.tcp_synack_retries"); got != origRetries {
			t.Fatalf("round %d (%s): tcp_synack_retries %d after rollback, want %d", i, outcome, got, origRetries)
		}
		if _, err := os.Stat(h.persist); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("round %d (%s): sysctl.d file still present after rollback (err %v)", i, outcome, err)
		}
		outcomes[outcome]++
	}
	t.Logf("SIGKILL outcomes over %d rounds (apply takes ~%v): %v", rounds, full.Round(time.Millisecond), outcomes)
	// At least one kill must land after the record was written, i.e. inside
	// the write path, or the test proved nothing about it.
	if outcomes["killed, record applying"]+outcomes["killed, record applied"] == 0 {
		t.Errorf("no round killed tune inside its write path: %v", outcomes)
	}
}

// A full disk for the state dir stops tune before its first write: exit 3,
// every value as it was, nothing persisted.
func TestTuneStateDirFull(t *testing.T) {
	if !nstest.IsolateMount(t) {
		return
	}
	root := t.TempDir()
	h := newTuneHost(t, root)
	if err := os.MkdirAll(h.state, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", h.state).CombinedOutput(); err != nil {
		t.Fatalf("mounting a small tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", h.state).Run() })
	// Fill it.
	f, err := os.Create(filepath.Join(h.state, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the state dir: %v", err)
			}
			break
		}
	}
	f.Close()
	before := readKey(t, "net.core.somaxconn")
	r := h.run(t, "--set", "somaxconn=9000", "--apply", "--yes", "--persist="+h.persist)
	if r.code != 3 {
		t.Fatalf("apply with a full state dir: exit %d, stderr %q; want 3", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "no space") {
		t.Errorf("error should say the disk is full: %q", r.stderr)
	}
	if got := readKey(t, "net.core.somaxconn"); got != before {
		t.Errorf("somaxconn changed to %d despite the failed record (was %d)", got, before)
	}
	if _, err := os.Stat(h.persist); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("sysctl.d file written despite the failed record (err %v)", err)
	}
}

// Symlinks planted in the state dir or the sysctl.d dir are never followed
// for writing: their targets stay untouched, and what tune writes is not
// world-writable.
func TestTuneDoesNotFollowPlantedSymlinks(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	root := t.TempDir()
	h := newTuneHost(t, root)
	if err := os.MkdirAll(h.state, 0o755); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(root, "victim")
	const precious = "precious\n"
	if err := os.WriteFile(victim, []byte(precious), 0o600); err != nil {
		t.Fatal(err)
	}
	checkVictim := func(what string) {
		t.Helper()
		b, err := os.ReadFile(victim)
		if err != nil || string(b) != precious {
			t.Fatalf("%s: the symlink's target was changed: %q %v", what, b, err)
		}
	}

	// A planted lock file: refused, target untouched.
	lock := filepath.Join(h.state, sysctl.LockFile)
	if err := os.Symlink(victim, lock); err != nil {
		t.Fatal(err)
	}
	r := h.run(t, "--set", "somaxconn=9000", "--apply", "--yes")
	if r.code != 3 {
		t.Errorf("apply with a planted lock symlink: exit %d %q, want 3", r.code, r.stderr)
	}
	checkVictim("lock symlink")
	os.Remove(lock)

	// A planted state file and sysctl.d file: replaced or refused, never written through.
	state := filepath.Join(h.state, sysctl.StateFile)
	for _, p := range []string{state, h.persist} {
		if err := os.Symlink(victim, p); err != nil {
			t.Fatal(err)
		}
	}
	r = h.run(t, "--set", "somaxconn=9000", "--apply", "--yes", "--persist="+h.persist)
	checkVictim("state and sysctl.d symlinks")
	if r.code == 0 {
		for _, p := range []string{state, h.persist} {
			fi, err := os.Lstat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode()&fs.ModeSymlink != 0 {
				t.Errorf("%s is still a symlink after a successful apply", p)
			}
			if fi.Mode().Perm()&0o022 != 0 {
				t.Errorf("%s has mode %v: group/world-writable", p, fi.Mode().Perm())
			}
		}
	}
	t.Logf("apply over planted state/sysctl.d symlinks: exit %d %s", r.code, strings.TrimSpace(r.stderr))
}
