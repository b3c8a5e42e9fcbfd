package nstest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// LookTool finds a binary the suite installs (nginx, wrk, promtool...);
// without it a test skips locally and fails under CI, where scripts/test.sh
// installs it.
func LookTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found: scripts/test.sh installs it", name)
		}
		t.Skipf("%s not found (see the need table in scripts/test.sh)", name)
	}
	return p
}

// Nginx is a running Debian nginx: a master and its workers, in their own
// process group.
type Nginx struct {
	Cmd *exec.Cmd
}

// StartNginx runs nginx (a master and two workers) listening on
// 127.0.0.1:port with listen backlog (0: nginx's default, 511), every file
// it writes in a temporary directory, until the test ends, run under the
// command prefix if any (e.g. prlimit --nofile=16:16). It returns once the
// port accepts connections.
func StartNginx(t testing.TB, port, backlog int, prefix ...string) *Nginx {
	t.Helper()
	bin := LookTool(t, "nginx")
	dir := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	if backlog > 0 {
		listen += fmt.Sprintf(" backlog=%d", backlog)
	}
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes 2;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  server { listen %[2]s; return 204; }
}
`, dir, listen)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append(prefix, bin, "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", path)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &Nginx{Cmd: cmd}
	t.Cleanup(func() {
		n.Signal(syscall.SIGCONT)
		cmd.Process.Signal(os.Interrupt) // SIGINT: fast shutdown, workers too
		cmd.Wait()
	})
	Eventually(t, 10*time.Second, "nginx accepting on "+listen, func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return n
}

// Signal sends sig to the master and every worker.
func (n *Nginx) Signal(sig syscall.Signal) {
	syscall.Kill(-n.Cmd.Process.Pid, sig)
}

// Wrk runs wrk against url with conns connections for d (bounded: wrk
// stops itself) and returns its output.
func Wrk(t testing.TB, url string, conns int, d time.Duration) string {
	t.Helper()
	bin := LookTool(t, "wrk")
	out, err := exec.Command(bin, "-t", "2", "-c", fmt.Sprint(conns), "-d", fmt.Sprintf("%ds", max(1, int(d.Seconds()))), url).CombinedOutput()
	if err != nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	return string(out)
}
