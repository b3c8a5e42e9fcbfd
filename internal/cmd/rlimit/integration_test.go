package rlimit

import (
	"encoding/json"
	"net/netip"
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
)

// A listener held by a child process (`sleep` inherits it as fd 3) shows up
// in the default listing with the child's comm, port and limits.
func TestListListenerOwnedByChild(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	fd, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 16, nstest.ListenOpts{})
	// A duplicate, so closing it here leaves nstest's descriptor alone.
	dup, err := unix.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	listener := os.NewFile(uintptr(dup), "listener")
	pid := startSleep(t, 700, 900, listener).Process.Pid
	listener.Close()

	io, _, out, _ := iostreams.Test()
	o := &Options{IO: io, Roots: hostfs.Host(), Output: "json", Limits: collect.Limits}
	if err := listRun(o); err != nil {
		t.Fatal(err)
	}
	var rep model.LimitsReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var found *model.ProcessLimits
	for i, p := range rep.Processes {
		if p.PID == pid {
			found = &rep.Processes[i]
		}
	}
	if found == nil {
		t.Fatalf("child %d holding port %d not listed:\n%s", pid, ep.Port(), out)
	}
	if found.Comm != "sleep" || len(found.Ports) != 1 || found.Ports[0] != ep.Port() {
		t.Errorf("child listed as comm %q ports %v, want sleep on %d", found.Comm, found.Ports, ep.Port())
	}
	if found.Nofile != (model.Nofile{Soft: 700, Hard: 900}) {
		t.Errorf("child limits = %+v, want 700:900", found.Nofile)
	}
	// stdin, stdout, stderr, the listener, and whatever the test binary
	// itself inherited without close-on-exec.
	entries, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	if found.OpenFDs == nil || found.Usage == nil {
		t.Fatalf("child's descriptors not read: open_fds %v usage %v", found.OpenFDs, found.Usage)
	}
	if n := len(entries); *found.OpenFDs != n || n < 4 || *found.Usage != float64(n)/700 {
		t.Errorf("child open_fds = %d usage = %v, want %d and %d/700", *found.OpenFDs, *found.Usage, n, n)
	}
	if rep.NrOpen == nil || *rep.NrOpen < 64 {
		t.Errorf("nr_open = %v, want fs.nr_open", rep.NrOpen)
	}
	// The test process holds the listener too, so it is listed as well.
	self := false
	for _, p := range rep.Processes {
		self = self || p.PID == os.Getpid()
	}
	if !self {
		t.Errorf("the test process (pid %d) also holds the listener but is not listed", os.Getpid())
	}
}
