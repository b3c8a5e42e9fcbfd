package inspect

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/internal/nstest"
)

// A child process that set its own RLIMIT_NOFILE before listening is reported
// as the owner with its pid, comm, limits and descriptor count; after
// `prlimit --pid` changes them, the next snapshot shows the new limits.
func TestProcessAttribution(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	h := startHelper(t, "bl-owner", "127.0.0.1:0",
		helperNofileEnv+"=200:300", helperExtraEnv+"=7")
	pid := h.cmd.Process.Pid

	owner := func() Process {
		t.Helper()
		snap := gather(t, Options{Processes: true, Ports: []uint16{h.port}})
		l := findListener(t, snap.Listeners, h.port)
		if len(l.Processes) != 1 {
			t.Fatalf("processes = %+v, want exactly the helper %d", l.Processes, pid)
		}
		return l.Processes[0]
	}
	p := owner()
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	if p.PID != pid || p.Comm != "bl-owner" || p.NofileSoft != 200 || p.NofileHard != 300 {
		t.Errorf("owner = %+v, want pid %d comm bl-owner nofile 200/300", p, pid)
	}
	// stdin, stdout, stderr, 7 × /dev/null, the listener, plus the Go
	// runtime's own: at least 11, and exactly what /proc says.
	if p.OpenFDs != len(fds) || p.OpenFDs < 11 {
		t.Errorf("open_fds = %d, /proc/%d/fd has %d entries (want equal, ≥ 11)", p.OpenFDs, pid, len(fds))
	}
	if p.Cmdline == "" {
		t.Errorf("cmdline empty")
	}

	if out, err := exec.Command("prlimit", "--pid", strconv.Itoa(pid), "--nofile=150:250").CombinedOutput(); err != nil {
		t.Fatalf("prlimit: %v\n%s", err, out)
	}
	if p := owner(); p.NofileSoft != 150 || p.NofileHard != 250 {
		t.Errorf("after prlimit: nofile %d/%d, want 150/250", p.NofileSoft, p.NofileHard)
	}

	// --no-processes leaves the owners out (an empty list, not null).
	snap := gather(t, Options{Ports: []uint16{h.port}})
	if l := findListener(t, snap.Listeners, h.port); l.Processes == nil || len(l.Processes) != 0 {
		t.Errorf("without Processes: processes = %#v, want []", l.Processes)
	}
}

// A listener held by two processes is listed once per process, sorted by
// pid, even when one of them holds it in two descriptors (a dup).
func TestProcessAttributionShared(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	fd, ep := nstest.Listen(t, mustAddrPort("127.0.0.1:0"), 8, nstest.ListenOpts{})
	f := os.NewFile(uintptr(dup(t, fd)), "listener") // this process: two descriptors
	defer f.Close()
	cmd := exec.Command("sleep", "30")
	cmd.ExtraFiles = []*os.File{f} // the child: one, as fd 3
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	snap := gather(t, Options{Processes: true, Ports: []uint16{ep.Port()}})
	l := findListener(t, snap.Listeners, ep.Port())
	var got []int
	comms := map[int]string{}
	for _, p := range l.Processes {
		got = append(got, p.PID)
		comms[p.PID] = p.Comm
	}
	want := []int{os.Getpid(), cmd.Process.Pid}
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("owner pids (-want +got):\n%s", diff)
	}
	if comms[cmd.Process.Pid] != "sleep" {
		t.Errorf("child comm = %q, want sleep", comms[cmd.Process.Pid])
	}
}
