package collect

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
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

	owner := func() model.Process {
		t.Helper()
		snap := gather(t, Options{Owners: OwnersOn, Ports: []uint16{h.port}})
		l := nstest.FindListener(t, snap.Listeners, h.port)
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
	if l := nstest.FindListener(t, snap.Listeners, h.port); l.Processes == nil || len(l.Processes) != 0 {
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

	snap := gather(t, Options{Owners: OwnersOn, Ports: []uint16{ep.Port()}})
	l := nstest.FindListener(t, snap.Listeners, ep.Port())
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

// A server that opened every descriptor its limit allows is shown with
// exactly the limit in use, never one more: descriptors it inherited above
// the limit (which the kernel allows: it checks RLIMIT_NOFILE only when
// allocating) are counted apart, as fds_above_limit, in both the owner walk
// and the exporter's cached owners. What the test binary itself inherited
// (a shell's or CI runner's descriptor) reaches the server too, so the
// count above the limit is checked against /proc, not assumed to be 0.
func TestOwnerAtNofileLimitIsExact(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	for _, tt := range []struct {
		name        string
		inheritedFD int
	}{
		{"exactly its limit", 0},
		{"plus an inherited descriptor above it", 100},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := nstest.StartAtNofileLimit(t, 64, tt.inheritedFD)
			port := srv.Addr.Port()
			snap := gather(t, Options{Owners: OwnersOn, Ports: []uint16{port}})
			l := nstest.FindListener(t, snap.Listeners, port)
			cache := &ownerCache{}
			cached := *snap
			cached.Listeners = []model.Listener{l}
			cached.Listeners[0].Processes = nil
			cache.Attach(&cached)

			entries, err := os.ReadDir("/proc/" + strconv.Itoa(srv.PID()) + "/fd")
			if err != nil {
				t.Fatal(err)
			}
			above, sawInherited := 0, false
			for _, e := range entries {
				fd, _ := strconv.Atoi(e.Name())
				if fd >= 64 {
					above++
				}
				sawInherited = sawInherited || fd == tt.inheritedFD
			}
			if tt.inheritedFD != 0 && !sawInherited {
				t.Fatalf("descriptor %d not inherited", tt.inheritedFD)
			}
			for what, ps := range map[string][]model.Process{"walk": l.Processes, "cache": cached.Listeners[0].Processes} {
				if len(ps) != 1 || ps[0].PID != srv.PID() {
					t.Fatalf("%s: owners %+v, want pid %d", what, ps, srv.PID())
				}
				p := ps[0]
				if p.NofileSoft != 64 || p.OpenFDs-p.FDsAboveLimit != 64 || p.OpenFDs != len(entries) || p.FDsAboveLimit != above || p.FDUsage() != 1 {
					t.Errorf("%s: open %d (above limit %d) of %d, usage %v; want 64 in use of 64 plus the %d above it /proc lists, usage 1",
						what, p.OpenFDs, p.FDsAboveLimit, p.NofileSoft, p.FDUsage(), above)
				}
			}
		})
	}
}
