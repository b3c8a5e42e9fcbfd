package nstest

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PHPFPMOpts shape the php-fpm a test starts.
type PHPFPMOpts struct {
	// Backlog is each pool's listen.backlog (0: php-fpm's default, 511).
	Backlog int
	// Children is pm.max_children of each static pool (default 2).
	Children int
	// TCP adds a second pool, "tcp", with the same settings on 127.0.0.1:
	// php-fpm's status page reads the listen queue of a TCP pool only.
	TCP bool
}

// PHPFPM is a php-fpm master with its pools.
type PHPFPM struct {
	*Server
	// Socket is the "www" pool's Unix socket.
	Socket string
	// TCPAddr is the "tcp" pool's address, when asked for.
	TCPAddr netip.AddrPort
	// Conf is php-fpm.conf, which the master's command line names.
	Conf string
	// Log is the master's log, at debug level.
	Log string
	// Script is a PHP script that sleeps for its query's ms= milliseconds
	// (default 200) and prints "ok".
	Script string
}

const phpSleepScript = `<?php usleep(1000 * (int)($_GET['ms'] ?? 200)); echo "ok\n";
`

// phpFPMBinary finds Debian's php-fpm, installed under its version
// (/usr/sbin/php-fpm8.2).
func phpFPMBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("php-fpm"); err == nil {
		return p
	}
	matches, _ := filepath.Glob("/usr/sbin/php-fpm*")
	if len(matches) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("php-fpm not found: scripts/test.sh installs it")
		}
		t.Skipf("php-fpm not found (Debian package php-fpm; see scripts/test.sh)")
	}
	return matches[len(matches)-1]
}

// StartPHPFPM runs Debian's php-fpm in the foreground as root (-R) with
// its configuration, socket, pid file and logs in a temporary directory:
// a pool "www" on a Unix socket with a status page at /fpm-status,
// and with o.TCP a pool "tcp" on 127.0.0.1. It returns once every pool
// listens.
func StartPHPFPM(t testing.TB, o PHPFPMOpts) *PHPFPM {
	t.Helper()
	bin := phpFPMBinary(t)
	dir := t.TempDir()
	if o.Children == 0 {
		o.Children = 2
	}
	f := &PHPFPM{Socket: filepath.Join(dir, "php-fpm.sock"), Conf: filepath.Join(dir, "php-fpm.conf"), Script: filepath.Join(dir, "sleep.php")}
	// A dynamic pool of Children workers that never spawns more: its
	// master logs each second's maintenance at debug level (WaitSample).
	pool := func(name, listen string) string {
		p := fmt.Sprintf("[%s]\nlisten = %s\npm = dynamic\npm.max_children = %[3]d\npm.start_servers = %[3]d\n"+
			"pm.min_spare_servers = 1\npm.max_spare_servers = %[3]d\npm.status_path = /fpm-status\n", name, listen, o.Children)
		if o.Backlog != 0 {
			p += fmt.Sprintf("listen.backlog = %d\n", o.Backlog)
		}
		return p
	}
	f.Log = filepath.Join(dir, "php-fpm.log")
	conf := fmt.Sprintf("[global]\npid = %s/php-fpm.pid\nerror_log = %s\nlog_level = debug\ndaemonize = no\n", dir, f.Log) + pool("www", f.Socket)
	if o.TCP {
		f.TCPAddr = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), FreePort(t))
		conf += pool("tcp", f.TCPAddr.String())
	}
	for name, text := range map[string]string{f.Conf: conf, f.Script: phpSleepScript} {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "--nodaemonize", "--allow-to-run-as-root", "--fpm-config", f.Conf)
	f.Server = startUntil(t, cmd, f.TCPAddr, dir, f.Socket, func() bool {
		return UnixListening(f.Socket) && (!o.TCP || listening(f.TCPAddr.Port()))
	})
	return f
}

// Reload rewrites every pool's listen.backlog to backlog and reloads
// php-fpm as `systemctl reload` does (SIGUSR2 to the master), waiting until
// it is ready again.
func (f *PHPFPM) Reload(t testing.TB, backlog int) {
	t.Helper()
	b, err := os.ReadFile(f.Conf)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "listen.backlog") {
			line = fmt.Sprintf("listen.backlog = %d", backlog)
		}
		out = append(out, line)
	}
	if err := os.WriteFile(f.Conf, []byte(strings.Join(out, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	const ready = "ready to handle connections"
	before := CountInFile(t, f.Log, ready)
	if err := syscall.Kill(f.PID(), syscall.SIGUSR2); err != nil {
		t.Fatalf("SIGUSR2 to php-fpm's master: %v", err)
	}
	Eventually(t, 10*time.Second, "php-fpm to reload", func() bool { return CountInFile(t, f.Log, ready) > before })
}

// Workers returns the pids of the master's children (the pools' workers).
func (f *PHPFPM) Workers(t testing.TB) []int {
	t.Helper()
	return children(t, f.PID())
}

// WaitSample waits until php-fpm's master has sampled pool's listen queue
// (fpm_pctl_perform_idle_server_maintenance, once a second) wholly after
// this call: two more of its maintenance lines in the log.
func (f *PHPFPM) WaitSample(t testing.TB, pool string) {
	t.Helper()
	line := "[pool " + pool + "] currently "
	start := CountInFile(t, f.Log, line)
	Eventually(t, 10*time.Second, "php-fpm's master to sample pool "+pool, func() bool {
		return CountInFile(t, f.Log, line) >= start+2
	})
}

// FastCGI is an nginx server block that passes every request to the
// php-fpm pool at upstream ("unix:/path" or "127.0.0.1:port") with script
// f.Script, and /fpm-status to its status page.
func (f *PHPFPM) FastCGI(upstream string) string {
	return fmt.Sprintf(`location = /fpm-status { fastcgi_pass %[1]s; include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_NAME /fpm-status; fastcgi_param SCRIPT_FILENAME /fpm-status; }
    location / { fastcgi_pass %[1]s; include /etc/nginx/fastcgi_params; fastcgi_param SCRIPT_FILENAME %[2]s; }`, upstream, f.Script)
}

// FPMStatus is php-fpm's status page, by field ("listen queue", "max
// listen queue", "listen queue len", "accepted conn" ...).
type FPMStatus map[string]string

// Int is a numeric field; it fails the test when absent.
func (s FPMStatus) Int(t testing.TB, field string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(s[field], 10, 64)
	if err != nil {
		t.Fatalf("php-fpm status %q = %q: %v (page: %v)", field, s[field], err, map[string]string(s))
	}
	return v
}

// ReadFPMStatus fetches a pool's status page through nginx at addr (a
// server block made by FastCGI), retrying while nginx answers 502: the
// page is served by the pool's own workers, so it waits behind a full
// queue.
func ReadFPMStatus(t testing.TB, addr netip.AddrPort) FPMStatus {
	t.Helper()
	var page string
	Eventually(t, 20*time.Second, "php-fpm's status page through nginx", func() bool {
		resp, err := http.Get("http://" + addr.String() + "/fpm-status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		page = string(b)
		return err == nil && resp.StatusCode == http.StatusOK
	})
	st := FPMStatus{}
	for _, line := range strings.Split(page, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			st[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return st
}

// CountInFile counts the occurrences of substr in the file at path (0 when
// the file does not exist yet): lines of a log, when substr is in each once.
func CountInFile(t testing.TB, path, substr string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), substr)
}
