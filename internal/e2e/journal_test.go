package e2e

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/sysctl"
)

// An apply killed (SIGKILL) inside its write phase, then an --apply
// --force-new, then --rollback: every value, and the sysctl.d file, go back
// to what they were before either apply -- not to what the killed one left.
// The second apply changes somaxconn again and tcp_synack_retries, not
// tcp_max_syn_backlog: the killed run's value of that one is restored too.
// Rounds freeze the first apply once its record appears and kill it there
// while the record still says applying; the test needs three rounds where
// the killed apply had changed a value.
func TestForceNewRollsBackToTheValuesBeforeEither(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	h := newTuneHost(t, t.TempDir())
	orig, checkOrig := h.remember(t)
	killedMidway := 0
	for i := 1; i <= 200 && killedMidway < 3; i++ {
		first := h.cmd("--set", fmt.Sprintf("somaxconn=%d", 5000+i), "--set", "tcp_max_syn_backlog=6000",
			"--set", "tcp_synack_retries=7", "--apply", "--yes", "--persist="+h.persist)
		before := recordInode(h.state)
		if err := first.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- first.Wait() }()
		waitForNewRecord(h.state, before, done, time.Minute)
		if !freezeInWritePhase(t, first.Process, h.state) {
			<-done
			if r := h.run(t, "--rollback", "--yes"); r.code != 0 && !strings.Contains(r.stderr, "nothing to roll back") {
				t.Fatalf("round %d: rollback of an uninterrupted apply: exit %d %s", i, r.code, r.stderr)
			}
			checkOrig(i, "an apply that was not frozen, rolled back")
			continue
		}
		_ = first.Process.Signal(syscall.SIGKILL)
		<-done
		changed := false
		for _, k := range signalKeys {
			changed = changed || readKey(t, k) != orig[k]
		}
		second := h.run(t, "--set", "somaxconn=7000", "--set", "tcp_synack_retries=9", "--apply", "--yes",
			"--force-new", "--persist="+h.persist)
		if second.code != 0 {
			t.Fatalf("round %d: --force-new over the killed apply: exit %d %s", i, second.code, second.stderr)
		}
		if st, err := sysctl.LoadState(h.state); err != nil || st.Superseded == nil || st.Superseded.Status != sysctl.StatusApplying {
			t.Fatalf("round %d: the new record does not keep the killed one: %+v (%v)", i, st, err)
		}
		if r := h.run(t, "--rollback", "--yes"); r.code != 0 {
			t.Fatalf("round %d: rollback: exit %d %s", i, r.code, r.stderr)
		}
		checkOrig(i, "after the kill, --force-new and --rollback")
		st, err := sysctl.LoadState(h.state)
		if err != nil || st.Status != sysctl.StatusRolledBack || st.Unresolved() {
			t.Fatalf("round %d: record after the rollback: %+v (%v)", i, st, err)
		}
		if changed {
			killedMidway++
		}
	}
	if killedMidway < 3 {
		t.Fatalf("only %d rounds killed the first apply after it had changed a value", killedMidway)
	}
	t.Logf("%d applies killed after changing a value, each then superseded with --force-new and rolled back to the values before both", killedMidway)
}

// A rollback never throws away an administrator's edit of the persisted
// sysctl.d file: changed (or removed) since backlogctl wrote it, the file is
// left as it is and the rollback says so in one line; the live values are
// restored all the same. Untouched, it is put back as it was (removed, when
// it did not exist).
func TestRollbackKeepsAnAdministratorsEdit(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	h := newTuneHost(t, t.TempDir())
	somax := readKey(t, "net.core.somaxconn")
	apply := func(by int64) {
		t.Helper()
		if r := h.run(t, "--set", fmt.Sprintf("somaxconn=%d", somax+by), "--apply", "--yes", "--persist="+h.persist); r.code != 0 {
			t.Fatalf("apply: exit %d %s", r.code, r.stderr)
		}
	}

	apply(1000)
	b, err := os.ReadFile(h.persist)
	if err != nil {
		t.Fatal(err)
	}
	edited := string(b) + "\n# the administrator's own\nnet.ipv4.tcp_fin_timeout = 30\n"
	if err := os.WriteFile(h.persist, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	r := h.run(t, "--rollback", "--yes")
	if r.code != 0 || !strings.Contains(r.stderr, h.persist+" was changed after backlogctl wrote it: left as it is") {
		t.Errorf("rollback over an edited file: exit %d, stderr %q; want 0 and a line saying the file was left", r.code, r.stderr)
	}
	if got, err := os.ReadFile(h.persist); err != nil || string(got) != edited {
		t.Errorf("the edited file is now %q (%v); want the administrator's edit kept", got, err)
	}
	if got := readKey(t, "net.core.somaxconn"); got != somax {
		t.Errorf("somaxconn = %d after the rollback, want %d", got, somax)
	}

	// Removed by the administrator after a second apply rewrote it: not
	// brought back as the first apply wrote it.
	if err := os.Remove(h.persist); err != nil {
		t.Fatal(err)
	}
	apply(1000)
	apply(2000)
	if err := os.Remove(h.persist); err != nil {
		t.Fatal(err)
	}
	if r := h.run(t, "--rollback", "--yes"); r.code != 0 || !strings.Contains(r.stderr, h.persist+" was removed after backlogctl wrote it: left as it is") {
		t.Errorf("rollback over a removed file: exit %d, stderr %q; want 0 and a line saying so", r.code, r.stderr)
	}
	if _, err := os.Stat(h.persist); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s was brought back (%v)", h.persist, err)
	}
	if r := h.run(t, "--set", fmt.Sprintf("somaxconn=%d", somax), "--apply", "--yes", "--allow-lower"); r.code != 0 {
		t.Fatalf("putting somaxconn back: exit %d %s", r.code, r.stderr)
	}

	// Untouched: removed, as it did not exist before.
	apply(1000)
	if r := h.run(t, "--rollback", "--yes"); r.code != 0 || strings.Contains(r.stderr, "left as it is") {
		t.Errorf("rollback of an untouched file: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(h.persist); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s still exists after the rollback (%v)", h.persist, err)
	}
}

// --force-new never supersedes an unresolved change made in another network
// namespace: the new record's rollback could not restore those values (they
// are written in that namespace), and once superseded the old change could
// not be rolled back where it was made. tune and sysctl set refuse in one
// line (exit 3), naming the namespace and the rollback, and change nothing.
func TestForceNewRefusesAnotherNamespacesChange(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	h := newTuneHost(t, t.TempDir())
	here, err := sysctl.NetnsInode("/proc")
	if err != nil {
		t.Fatal(err)
	}
	other := here + 1
	owed := sysctl.State{Time: time.Now().UTC(), Command: "tune --apply", SysRoot: "/proc/sys", Netns: other,
		Status: sysctl.StatusApplying, Steps: []sysctl.Step{{Key: "net.core.somaxconn", Previous: "4096", Value: "8000"}}}
	if err := os.MkdirAll(h.state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := sysctl.SaveState(h.state, owed); err != nil {
		t.Fatal(err)
	}
	somax := readKey(t, "net.core.somaxconn")
	want := fmt.Sprintf("made in network namespace netns:[%d], this run is in netns:[%d]", other, here)
	for _, args := range [][]string{
		{"tune", "--set", fmt.Sprintf("somaxconn=%d", somax+1), "--apply", "--yes", "--force-new", "--state-dir", h.state},
		{"sysctl", "set", fmt.Sprintf("net.core.somaxconn=%d", somax+1), "--force-new", "--state-dir", h.state},
	} {
		c := exec.Command(bin, args...)
		c.Env = append(os.Environ(), "BACKLOGCTL_SYSCTL_D_DIRS="+h.etcD, "BACKLOGCTL_SYSCTL_CONF=", "TMPDIR="+h.tmp)
		var errOut strings.Builder
		c.Stderr = &errOut
		err := c.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(errOut.String(), want) ||
			!strings.Contains(errOut.String(), sysctl.RollbackCommand) || strings.Count(strings.TrimSpace(errOut.String()), "\n") > 0 {
			t.Errorf("%s %s: %v, stderr %q; want exit 3 and one line with %q and %q", args[0], args[1], err, errOut.String(), want, sysctl.RollbackCommand)
		}
		if got := readKey(t, "net.core.somaxconn"); got != somax {
			t.Errorf("%s %s: somaxconn = %d, want %d unchanged", args[0], args[1], got, somax)
		}
		st, err := sysctl.LoadState(h.state)
		if err != nil || st.Netns != other || st.Status != sysctl.StatusApplying || st.Superseded != nil {
			t.Errorf("%s %s: the record is now %+v (%v); want the other namespace's, untouched", args[0], args[1], st, err)
		}
	}
}
