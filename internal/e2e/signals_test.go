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

// signalKeys are the keys the signal sweeps change, in the test's own
// network namespace.
var signalKeys = []string{"net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_synack_retries"}

// sweepSignals starts write (a command that changes signalKeys) rounds
// times, delivering SIGINT, SIGTERM or SIGHUP: in odd rounds after delays
// spread from 0 to 1.5x an uninterrupted run, in even rounds at offsets of 0
// to 0.9 ms after the record of the change appears (inside the write phase,
// at a different write each time). After every round the host is whole without a
// rollback: a run that exits 0 made every change, and anything else (exit
// 128+signal after deferring the signal, or death by the signal before the
// write phase) left every value and the sysctl.d file as they were, with
// nothing owed in the record; a death by the signal after the write phase
// left the whole change, recorded as applied. It returns the outcomes by kind.
func sweepSignals(t *testing.T, h tuneHost, rounds int, write func(i int) *exec.Cmd, persisted bool) map[string]int {
	t.Helper()
	orig, wasOrig := h.remember(t)
	checkOrig := func(round int, outcome string) {
		t.Helper()
		wasOrig(round, outcome+", without a rollback")
		if st, err := sysctl.LoadState(h.state); err == nil && st.Unresolved() {
			t.Fatalf("round %d (%s): record left unresolved: %+v", round, outcome, st)
		}
	}
	start := time.Now()
	if out, err := write(0).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	full := time.Since(start)
	if r := h.run(t, "--rollback", "--yes"); r.code != 0 {
		t.Fatalf("rollback after a clean run: exit %d %s", r.code, r.stderr)
	}
	signals := []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP}
	outcomes := map[string]int{}
	for i := 1; i <= rounds; i++ {
		sig := signals[i%len(signals)]
		c := write(i)
		var stderr strings.Builder
		c.Stderr = &stderr
		err := startAndSignal(t, c, h.state, i, rounds, full, sig)
		ws, _ := c.ProcessState.Sys().(syscall.WaitStatus)
		var outcome string
		switch {
		case err == nil:
			outcome = "completed"
			for k, v := range orig {
				if readKey(t, k) == v {
					t.Fatalf("round %d: exit 0 but %s still %d", i, k, v)
				}
			}
			if r := h.run(t, "--rollback", "--yes"); r.code != 0 {
				t.Fatalf("round %d: rollback after a completed run: exit %d %s", i, r.code, r.stderr)
			}
			if persisted {
				if _, err := os.Stat(h.persist); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("round %d: sysctl.d file left after the rollback", i)
				}
			}
		case ws.Signaled():
			// Outside the write phase the signal acts as usual: before it
			// nothing was changed; after it the change is whole and recorded.
			if st, err := sysctl.LoadState(h.state); err == nil && st.Status == sysctl.StatusApplied && readKey(t, "net.core.somaxconn") == int64(8192+i) {
				outcome = "died after the write phase"
				if r := h.run(t, "--rollback", "--yes"); r.code != 0 {
					t.Fatalf("round %d: rollback: exit %d %s", i, r.code, r.stderr)
				}
				checkOrig(i, outcome)
				break
			}
			outcome = "died before the write phase"
			checkOrig(i, outcome)
		case ws.ExitStatus() == 128+int(sig):
			outcome = "deferred, restored, exit 128+signal"
			if !strings.Contains(stderr.String(), "interrupted by SIG") || strings.Contains(stderr.String(), "could NOT") {
				t.Fatalf("round %d: exit %d, stderr %q; want 'interrupted by', nothing left changed", i, ws.ExitStatus(), stderr.String())
			}
			checkOrig(i, outcome)
		default:
			t.Fatalf("round %d (%v): exit %d, stderr %q", i, sig, ws.ExitStatus(), stderr.String())
		}
		outcomes[outcome]++
	}
	if outcomes["deferred, restored, exit 128+signal"] == 0 {
		t.Errorf("no signal landed inside the write phase: %v", outcomes)
	}
	return outcomes
}

// remember reads signalKeys now and returns them, with a check that fails
// the test unless each has that value again and the sysctl.d file is absent
// (as it was: the tests start without one).
func (h tuneHost) remember(t *testing.T) (map[string]int64, func(round int, what string)) {
	t.Helper()
	orig := map[string]int64{}
	for _, k := range signalKeys {
		orig[k] = readKey(t, k)
	}
	return orig, func(round int, what string) {
		t.Helper()
		for _, k := range signalKeys {
			if got := readKey(t, k); got != orig[k] {
				t.Fatalf("round %d (%s): %s = %d, want %d as before", round, what, k, got, orig[k])
			}
		}
		if _, err := os.Stat(h.persist); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("round %d (%s): the sysctl.d file is present (%v); it was not before", round, what, err)
		}
	}
}

// SIGINT, SIGTERM and SIGHUP during `tune --apply --persist` are deferred
// until the write in progress ends; then every value written is restored,
// the record says so and tune exits 128+signal. No round needs a rollback.
func TestTuneSignalsRestoreBeforeExit(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	h := newTuneHost(t, t.TempDir())
	const rounds = 60
	outcomes := sweepSignals(t, h, rounds, func(i int) *exec.Cmd {
		return h.cmd("--set", fmt.Sprintf("somaxconn=%d", 8192+i), "--set", "tcp_max_syn_backlog=8192",
			"--set", "tcp_synack_retries=7", "--apply", "--yes", "--persist="+h.persist)
	}, true)
	t.Logf("signals during tune --apply over %d rounds: %v", rounds, outcomes)
}

// The same for `sysctl set`, which records its change in the same journal.
func TestSysctlSetSignalsRestoreBeforeExit(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	h := newTuneHost(t, t.TempDir())
	const rounds = 60
	outcomes := sweepSignals(t, h, rounds, func(i int) *exec.Cmd {
		return exec.Command(bin, "sysctl", "set", fmt.Sprintf("somaxconn=%d", 8192+i), "tcp_max_syn_backlog=8192",
			"tcp_synack_retries=7", "--state-dir", h.state)
	}, false)
	t.Logf("signals during sysctl set over %d rounds: %v", rounds, outcomes)
}

// recordInode identifies the state file now: each record is a new file
// renamed into place, so a new inode means a new record.
func recordInode(dir string) uint64 {
	fi, err := os.Stat(dir + "/" + sysctl.StateFile)
	if err != nil {
		return 0
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// waitForNewRecord polls until the state file is replaced, the command ends
// (its result is put back on done), or limit passes.
func waitForNewRecord(dir string, before uint64, done chan error, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			done <- err
			return
		default:
		}
		if recordInode(dir) != before {
			return
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// startAndSignal starts c, delivers sig and returns c's Wait error. Odd
// rounds signal after a delay spread over 0..1.5x full (a whole run) by
// round; even rounds once the record of the change appears in stateDir:
// with the command frozen inside the write phase when it can be, else 0..0.9
// ms after, i.e. inside the write path however fast or slow the binary is.
func startAndSignal(t *testing.T, c *exec.Cmd, stateDir string, round, rounds int, full time.Duration, sig syscall.Signal) error {
	t.Helper()
	recordBefore := recordInode(stateDir)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	if round%2 == 1 {
		time.Sleep(full * 3 * time.Duration(round) / (2 * time.Duration(rounds)))
	} else {
		waitForNewRecord(stateDir, recordBefore, done, full*20)
		// On an idle machine the write phase can end before a sleeping
		// test wakes: freeze the command where it is, and when that is
		// inside the write phase (the record still says applying), the
		// signal is pending there when it resumes.
		if freezeInWritePhase(t, c.Process, stateDir) {
			_ = c.Process.Signal(sig)
			_ = c.Process.Signal(syscall.SIGCONT)
			return <-done
		}
		time.Sleep(time.Duration(round/2%10) * 100 * time.Microsecond)
	}
	_ = c.Process.Signal(sig)
	return <-done
}

// freezeInWritePhase stops p with SIGSTOP and reports whether it stopped
// inside the write phase; if not (it had finished, or exited), p runs on.
func freezeInWritePhase(t *testing.T, p *os.Process, stateDir string) bool {
	t.Helper()
	if p.Signal(syscall.SIGSTOP) != nil {
		return false
	}
	stat := fmt.Sprintf("/proc/%d/stat", p.Pid)
	for deadline := time.Now().Add(5 * time.Second); ; {
		b, err := os.ReadFile(stat)
		i := strings.LastIndexByte(string(b), ')')
		if err != nil || i < 0 || i+2 >= len(b) || b[i+2] == 'Z' {
			return false // exited
		}
		if b[i+2] == 'T' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d did not stop on SIGSTOP: %s", p.Pid, b)
		}
		time.Sleep(50 * time.Microsecond)
	}
	if st, err := sysctl.LoadState(stateDir); err == nil && st.Status == sysctl.StatusApplying {
		return true
	}
	_ = p.Signal(syscall.SIGCONT)
	return false
}
