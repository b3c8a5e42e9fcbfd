package nstest

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// GunicornOpts shape the gunicorn a test starts.
type GunicornOpts struct {
	// Backlog is gunicorn's --backlog (0: its default, 2048).
	Backlog int
	// Workers is --workers (default 1).
	Workers int
}

// Gunicorn is a gunicorn arbiter and its sync workers on a Unix socket.
type Gunicorn struct {
	*Server
	Socket string
}

// gunicornApp answers "ok", except /stall, which creates the file
// "stalled" and holds its worker for an hour: a sync worker then accepts
// nothing more.
const gunicornApp = `import time

def app(environ, start_response):
    if environ.get("PATH_INFO") == "/stall":
        open("stalled", "w").close()
        time.sleep(3600)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]
`

// StartGunicorn runs Debian's gunicorn (sync workers) on a Unix socket in
// a temporary directory, with a worker timeout long enough that a stalled
// worker is not restarted while a test runs.
func StartGunicorn(t testing.TB, o GunicornOpts) *Gunicorn {
	t.Helper()
	bin := LookTool(t, "gunicorn")
	dir := t.TempDir()
	if o.Workers == 0 {
		o.Workers = 1
	}
	if err := os.WriteFile(filepath.Join(dir, "app.py"), []byte(gunicornApp), 0o644); err != nil {
		t.Fatal(err)
	}
	g := &Gunicorn{Socket: filepath.Join(dir, "gunicorn.sock")}
	args := []string{"--chdir", dir, "--bind", "unix:" + g.Socket, "--workers", fmt.Sprint(o.Workers), "--timeout", "3600"}
	if o.Backlog != 0 {
		args = append(args, "--backlog", fmt.Sprint(o.Backlog))
	}
	cmd := exec.Command(bin, append(args, "app:app")...)
	g.Server = startUntil(t, cmd, netip.AddrPort{}, dir, g.Socket, func() bool { return UnixListening(g.Socket) })
	// The arbiter listens before it forks: wait for every worker.
	Eventually(t, 10*time.Second, "gunicorn's workers to start", func() bool {
		return len(children(t, g.PID())) >= o.Workers
	})
	return g
}

// Stall sends the request that holds a worker, and waits until the
// worker is in it: with one worker, the queue fills from now on.
func (g *Gunicorn) Stall(t testing.TB) {
	t.Helper()
	c, err := net.Dial("unix", g.Socket)
	if err != nil {
		t.Fatalf("connecting to gunicorn: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte("GET /stall HTTP/1.0\r\n\r\n")); err != nil {
		t.Fatalf("sending the stalling request: %v", err)
	}
	marker := filepath.Join(g.Dir, "stalled")
	Eventually(t, 10*time.Second, "gunicorn's worker to take the stalling request", func() bool {
		_, err := os.Stat(marker)
		return err == nil
	})
}

// Workers returns the pids of the arbiter's children (its workers).
func (g *Gunicorn) Workers(t testing.TB) []int {
	t.Helper()
	return children(t, g.PID())
}
