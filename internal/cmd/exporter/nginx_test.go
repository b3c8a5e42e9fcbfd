package exporter

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
)

// startNginx runs Debian's nginx (a master and two workers) listening on
// 127.0.0.1:port, with every file it writes in a temporary directory, until
// the test ends.
func startNginx(t *testing.T, port int) {
	t.Helper()
	bin := lookTool(t, "nginx")
	dir := t.TempDir()
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes 2;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  server { listen 127.0.0.1:%[2]d; return 204; }
}
`, dir, port)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", path)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt) // SIGINT: fast shutdown, workers too
		cmd.Wait()
	})
}

// nginx started while the exporter runs appears as process="nginx" from its
// first series on, never first as process="".
func TestNginxNeverUnlabelled(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	h, err := newOpts().Handler()
	if err != nil {
		t.Fatal(err)
	}
	scrape(t, h) // the exporter has walked /proc before nginx exists
	port := freeLoopbackPort(t)
	startNginx(t, port)
	scrapes := 0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); scrapes++ {
		for _, m := range scrape(t, h)["backlogctl_listener_backlog"].GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["port"] != fmt.Sprint(port) {
				continue
			}
			if labels["process"] != "nginx" {
				t.Fatalf("scrape %d: nginx's listener published with process=%q", scrapes, labels["process"])
			}
			t.Logf("nginx's listener first published in scrape %d, labelled nginx", scrapes)
			return
		}
	}
	t.Fatalf("nginx's listener on port %d never appeared in %d scrapes", port, scrapes)
}
