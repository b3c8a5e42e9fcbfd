package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/netns/netnstest"
	"github.com/backlogctl/backlogctl/sysctl"
)

// Under --netns the writes are made by a run started inside the namespace.
// SIGINT, SIGTERM and SIGHUP sent to the command the operator started reach
// that inner run, the command waits for it and exits as it did: when the
// command has exited, no run of it is left going, and its status says what
// happened there (0: every value changed and recorded applied; 128+signal:
// every value as before and nothing owed, or -- killed by the signal after
// its writes -- the whole change recorded applied). Half the rounds freeze
// the inner run inside its write phase (SIGSTOP once its record says
// applying) and signal the command while it is frozen: the command must
// not exit until the inner run has. At least one round must be frozen so,
// and one must have its signal deferred by the inner run (restore, then
// 128+signal): a signal only the command received got there.
func TestNetnsSignalsReachTheInnerRun(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	other := netnstest.Hold(t)
	state := filepath.Join(t.TempDir(), "state")
	read := func(key string) int64 {
		t.Helper()
		v, err := strconv.ParseInt(nstest.SysctlIn(t, other, key), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	orig := map[string]int64{}
	for _, k := range signalKeys {
		orig[k] = read(k)
	}
	tune := func(args ...string) *exec.Cmd {
		return exec.Command(bin, append(append([]string{"tune", "--netns", other}, args...), "--state-dir", state)...)
	}
	apply := func(i int) *exec.Cmd {
		return tune("--set", fmt.Sprintf("somaxconn=%d", 8192+i), "--set", "tcp_max_syn_backlog=8192",
			"--set", "tcp_synack_retries=7", "--apply", "--yes")
	}
	rollback := func(round int) {
		t.Helper()
		if out, err := tune("--rollback", "--yes").CombinedOutput(); err != nil {
			t.Fatalf("round %d: rollback: %v\n%s", round, err, out)
		}
	}
	start := time.Now()
	if out, err := apply(0).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	full := time.Since(start)
	rollback(0)

	signals := []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP}
	const rounds = 30
	outcomes := map[string]int{}
	for i := 1; i <= rounds; i++ {
		sig := signals[i%len(signals)]
		c := apply(i)
		var stderr bytes.Buffer
		c.Stderr = &stderr
		before := recordInode(state)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		frozen := false
		if i%2 == 0 {
			inner := childOf(c.Process.Pid)
			waitForNewRecord(state, before, done, full*20)
			frozen = freezeInnerAndSignal(t, c.Process.Pid, inner, state, sig, done)
		} else {
			time.Sleep(full * 3 * time.Duration(i) / (2 * rounds))
			_ = c.Process.Signal(sig)
		}
		err := <-done
		if left := runsUsing(state); len(left) > 0 {
			for _, pid := range left {
				_ = syscall.Kill(pid, syscall.SIGCONT)
			}
			t.Fatalf("round %d (%v, frozen %v): the command exited (%v) while its run inside the namespace (pid %v) was still going", i, sig, frozen, err, left)
		}
		ws := c.ProcessState.Sys().(syscall.WaitStatus)
		st, lerr := sysctl.LoadState(state)
		changed := read("net.core.somaxconn") == int64(8192+i)
		var outcome string
		switch {
		case ws.Signaled():
			// Before it started the inner run (no run is left: checked above).
			outcome = "died before starting the inner run"
			if changed {
				t.Fatalf("round %d: the command died by %v, and somaxconn was changed in the namespace", i, ws.Signal())
			}
		case ws.ExitStatus() == 0:
			outcome = "completed"
			if !changed || lerr != nil || st.Status != sysctl.StatusApplied {
				t.Fatalf("round %d: exit 0 but somaxconn changed %v, record %+v (%v)", i, changed, st.Status, lerr)
			}
			rollback(i)
		case ws.ExitStatus() == 128+int(sig) && changed:
			outcome = "died by the signal after the write phase"
			if lerr != nil || st.Status != sysctl.StatusApplied || strings.Contains(stderr.String(), "interrupted") {
				t.Fatalf("round %d: exit %d with the values changed, record %+v (%v), stderr %q", i, ws.ExitStatus(), st.Status, lerr, stderr.String())
			}
			rollback(i)
		case ws.ExitStatus() == 128+int(sig):
			outcome = "nothing left changed"
			if strings.Contains(stderr.String(), "interrupted by") {
				outcome = "deferred, restored, exit 128+signal"
			}
			if lerr == nil && st.Unresolved() {
				t.Fatalf("round %d: exit %d but the record is unresolved: %+v", i, ws.ExitStatus(), st)
			}
		default:
			t.Fatalf("round %d (%v): exit %d, stderr %q", i, sig, ws.ExitStatus(), stderr.String())
		}
		for _, k := range signalKeys {
			if got := read(k); got != orig[k] {
				t.Fatalf("round %d (%s): %s = %d in the namespace, want %d", i, outcome, k, got, orig[k])
			}
		}
		if frozen {
			outcome += " (frozen in the write phase)"
		}
		outcomes[outcome]++
	}
	t.Logf("signals to tune --netns over %d rounds: %v", rounds, outcomes)
	frozen, deferred := 0, 0
	for o, n := range outcomes {
		if strings.HasSuffix(o, "(frozen in the write phase)") {
			frozen += n
		}
		if strings.HasPrefix(o, "deferred") {
			deferred += n
		}
	}
	if frozen == 0 || deferred == 0 {
		t.Errorf("no round froze the inner run in its write phase, or none had a signal deferred there: %v", outcomes)
	}
}

// freezeInnerAndSignal stops the run the command started inside the
// namespace (its child) while its record says applying, sends sig to the
// command and waits until either the command exits (it did not wait) or sig
// is pending in the frozen inner run (it was passed on); then lets the inner
// run go on. It reports whether the inner run was frozen in its write phase.
func freezeInnerAndSignal(t *testing.T, outer, inner int, state string, sig syscall.Signal, done chan error) bool {
	t.Helper()
	if inner == 0 || syscall.Kill(inner, syscall.SIGSTOP) != nil {
		_ = syscall.Kill(outer, sig)
		return false
	}
	defer syscall.Kill(inner, syscall.SIGCONT)
	if !waitStopped(inner) {
		_ = syscall.Kill(outer, sig)
		return false
	}
	if st, err := sysctl.LoadState(state); err != nil || st.Status != sysctl.StatusApplying {
		_ = syscall.Kill(outer, sig)
		return false
	}
	_ = syscall.Kill(outer, sig)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		select {
		case err := <-done:
			done <- err
			return true
		default:
		}
		if pending(inner, sig) {
			return true
		}
		if exited(outer) {
			t.Fatalf("the command exited on %v while its run inside the namespace (pid %d) was still going, frozen in its write phase", sig, inner)
		}
	}
	t.Fatalf("neither did the command exit nor did %v reach its inner run (pid %d)", sig, inner)
	return true
}

// childOf returns the first child of pid, 0 when it has none (yet). A Go
// program forks from any of its threads, and each thread lists its own
// children.
func childOf(pid int) int {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Microsecond) {
		tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
		if err != nil || len(tasks) == 0 {
			return 0
		}
		for _, task := range tasks {
			b, _ := os.ReadFile(task)
			if f := strings.Fields(string(b)); len(f) > 0 {
				c, _ := strconv.Atoi(f[0])
				return c
			}
		}
	}
	return 0
}

// waitStopped waits until pid is in state T (stopped); false if it exited.
func waitStopped(pid int) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Microsecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		i := bytes.LastIndexByte(b, ')')
		if err != nil || i < 0 || i+2 >= len(b) || b[i+2] == 'Z' {
			return false
		}
		if b[i+2] == 'T' {
			return true
		}
	}
	return false
}

// exited reports whether pid has exited: gone, or a zombie not yet reaped
// (exec.Cmd.Wait reaps it first, then waits for its output pipes, which
// a frozen child still holds).
func exited(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := bytes.LastIndexByte(b, ')')
	return err != nil || (i > 0 && i+2 < len(b) && b[i+2] == 'Z')
}

// pending reports whether sig is pending for pid (its shared or thread
// pending set, /proc/PID/status ShdPnd and SigPnd).
func pending(pid int, sig syscall.Signal) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, hex, ok := strings.Cut(line, ":")
		if !ok || (name != "ShdPnd" && name != "SigPnd") {
			continue
		}
		if mask, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64); err == nil && mask&(1<<(uint(sig)-1)) != 0 {
			return true
		}
	}
	return false
}

// runsUsing lists live processes (not zombies) whose command line names
// stateDir: runs of backlogctl this test started.
func runsUsing(stateDir string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(stateDir)) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
				continue
			}
		}
		out = append(out, pid)
	}
	return out
}
