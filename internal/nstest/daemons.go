package nstest

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// loopbackPort is 127.0.0.1:port.
func loopbackPort(port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
}

// MemcachedOpts shape the memcached a test starts.
type MemcachedOpts struct {
	// Backlog is -b (0: memcached's default, 1024); Conns is -c, its
	// connection limit (0: its default, 1024).
	Backlog, Conns int
}

// StartMemcached runs Debian's memcached on 127.0.0.1 (TCP only, as
// nobody).
func StartMemcached(t testing.TB, o MemcachedOpts) *Server {
	t.Helper()
	bin := LookTool(t, "memcached")
	port := FreePort(t)
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(int(port)), "-U", "0", "-u", "nobody"}
	if o.Backlog > 0 {
		args = append(args, "-b", strconv.Itoa(o.Backlog))
	}
	if o.Conns > 0 {
		args = append(args, "-c", strconv.Itoa(o.Conns))
	}
	return start(t, exec.Command(bin, args...), loopbackPort(port), t.TempDir())
}

// RedisOpts shape the redis-server a test starts.
type RedisOpts struct {
	// Maxclients is maxclients (0: Redis's default, 10000).
	Maxclients int
}

// StartRedis runs Debian's redis-server on 127.0.0.1 with no persistence,
// its working directory a temporary one.
func StartRedis(t testing.TB, o RedisOpts) *Server {
	t.Helper()
	bin := LookTool(t, "redis-server")
	dir := t.TempDir()
	port := FreePort(t)
	args := []string{"--port", strconv.Itoa(int(port)), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--protected-mode", "no"}
	if o.Maxclients > 0 {
		args = append(args, "--maxclients", strconv.Itoa(o.Maxclients))
	}
	return start(t, exec.Command(bin, args...), loopbackPort(port), dir)
}

// HAProxyOpts shape the haproxy a test starts.
type HAProxyOpts struct {
	// Maxconn is the global section's maxconn (0: none set).
	Maxconn int
	// Backend is the address of the one server its TCP frontend forwards to.
	Backend netip.AddrPort
}

// StartHAProxy runs Debian's haproxy in the foreground (master-worker) with
// a TCP frontend on 127.0.0.1 forwarding to o.Backend, its configuration
// in a temporary directory and named on its command line (-f).
func StartHAProxy(t testing.TB, o HAProxyOpts) *Server {
	t.Helper()
	bin := LookTool(t, "haproxy")
	dir := t.TempDir()
	port := FreePort(t)
	global := "global\n"
	if o.Maxconn > 0 {
		global += fmt.Sprintf("    maxconn %d\n", o.Maxconn)
	}
	conf := global + fmt.Sprintf(`
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h

frontend front
    bind 127.0.0.1:%d
    default_backend back

backend back
    server s1 %s
`, port, o.Backend)
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return start(t, exec.Command(bin, "-W", "-db", "-f", path), loopbackPort(port), dir)
}

// PostgresOpts shape the PostgreSQL a test starts.
type PostgresOpts struct {
	// MaxConnections is max_connections in its postgresql.conf (0: the
	// default, 100).
	MaxConnections int
}

// StartPostgres makes a database cluster in a temporary directory with
// Debian's initdb and runs its postmaster on 127.0.0.1, as the postgres
// user (PostgreSQL refuses to run as root), with max_connections in the
// cluster's own postgresql.conf. Its command line names the data
// directory (-D), as Debian's pg_ctlcluster does.
func StartPostgres(t testing.TB, o PostgresOpts) *Server {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(bins) == 0 {
		LookTool(t, "postgres") // not on PATH in Debian: skips, or fails under CI
		t.Fatal("postgres not found under /usr/lib/postgresql (scripts/test.sh installs postgresql)")
	}
	bin := bins[len(bins)-1]
	pg, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("the postgres user (Debian's postgresql package makes it): %v", err)
	}
	uid, _ := strconv.Atoi(pg.Uid)
	gid, _ := strconv.Atoi(pg.Gid)
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	dir := t.TempDir()
	// The postgres user must reach the cluster: TempDir's parents are 0700.
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(data, uid, gid); err != nil {
		t.Fatal(err)
	}
	initdb := exec.Command(filepath.Join(filepath.Dir(bin), "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port := FreePort(t)
	conf := fmt.Sprintf("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n", port, dir)
	if o.MaxConnections > 0 {
		conf += fmt.Sprintf("max_connections = %d\n", o.MaxConnections)
	}
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(conf); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chmod(dir, 0o777); err != nil { // its Unix socket and lock file
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-D", data)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = dir
	return start(t, cmd, loopbackPort(port), dir)
}

// StartNode runs script with Debian's nodejs (node), with the port as its
// one argument, and waits for it to listen on 127.0.0.1.
func StartNode(t testing.TB, script string) *Server {
	t.Helper()
	bin, err := exec.LookPath("node")
	if err != nil {
		bin = LookTool(t, "nodejs")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "server.js")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	port := FreePort(t)
	cmd := exec.Command(bin, path, strconv.Itoa(int(port)))
	cmd.Dir = dir
	return start(t, cmd, loopbackPort(port), dir)
}
