package nstest

import (
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// fillScript opens /dev/null until EMFILE, then listens on 127.0.0.1:PORT:
// once the port listens, every descriptor below the limit is taken. With a
// second argument "accept" it then calls accept() every 10ms, which fails
// with EMFILE.
const fillScript = `
import os, socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
held = []
try:
    while True:
        held.append(os.open("/dev/null", os.O_RDONLY))
except OSError:
    pass
s.listen(16)
if len(sys.argv) > 2 and sys.argv[2] == "accept":
    while True:
        try:
            c, _ = s.accept()
            c.close()
        except OSError:
            time.sleep(0.01)
time.sleep(600)
`

// StartAtNofileLimit runs, under `prlimit --nofile=LIMIT:LIMIT`, a python3
// server on 127.0.0.1 that holds every descriptor its limit allows. With
// inheritedFD > limit, the server also inherits /dev/null as descriptor
// inheritedFD (as from a shell's fd 255): open, above the limit, allowed.
func StartAtNofileLimit(t testing.TB, limit, inheritedFD int) *Server {
	t.Helper()
	return startFilled(t, limit, inheritedFD)
}

// StartEMFILEAcceptor is StartAtNofileLimit's server, without an inherited
// descriptor, that keeps calling accept() and failing with EMFILE.
func StartEMFILEAcceptor(t testing.TB, limit int) *Server {
	t.Helper()
	return startFilled(t, limit, 0, "accept")
}

func startFilled(t testing.TB, limit, inheritedFD int, mode ...string) *Server {
	t.Helper()
	prlimit := LookTool(t, "prlimit")
	port := FreePort(t)
	args := append([]string{"--nofile=" + strconv.Itoa(limit) + ":" + strconv.Itoa(limit),
		Python(t), "-c", fillScript, strconv.Itoa(int(port))}, mode...)
	cmd := exec.Command(prlimit, args...)
	if inheritedFD > limit {
		null, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { null.Close() })
		// ExtraFiles[i] is the child's descriptor 3+i; nil entries are closed.
		cmd.ExtraFiles = make([]*os.File, inheritedFD-2)
		cmd.ExtraFiles[inheritedFD-3] = null
	}
	return start(t, cmd, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port), t.TempDir())
}
