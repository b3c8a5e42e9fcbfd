package advise

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/backlogctl/backlogctl/model"
)

// program is a server whose backlog and descriptor settings we can name.
type program struct {
	// Name is how the finding names it.
	Name string
	// names are comm values or argv[0]/argv[1] basenames that identify it
	// (a trailing '*' matches a prefix: php-fpm8.2, python3.11).
	names []string
	// setting says how to raise its backlog; %s is the recommended value.
	setting string
	// relisten says what makes it call listen() again, when that is not
	// simply a restart.
	relisten string
	// nofile says where its descriptor limit is set; %s is the value.
	nofile string
}

// programs are the servers whose settings are well known. Defaults are the
// programs' own.
var programs = []program{
	{"nginx", []string{"nginx"}, "raise the `listen ... backlog=%s;` parameter in nginx's server block (default 511); `nginx -s reload` calls listen() again with it",
		"nginx calls listen() again on reload only when a listen directive's backlog= changed, so a somaxconn change needs a restart (or a changed backlog= and a reload)",
		"set `worker_rlimit_nofile %s;` in nginx.conf and reload (`nginx -s reload`): the workers, which accept, set it themselves; without it they inherit the master's limit"},
	{"HAProxy", []string{"haproxy"}, "raise HAProxy's `backlog %s` in the frontend (or `bind ... backlog %s`; default: maxconn)", "", "HAProxy raises its own limit from maxconn (or `fd-hard-limit`); raise `maxconn` in the global section"},
	{"Envoy", []string{"envoy"}, "raise the listener's `tcp_backlog_size: %s` in Envoy's configuration (default 128)", "", ""},
	{"Node.js", []string{"node", "nodejs"}, "raise `server.listen({port, backlog: %s})` in the Node.js program (default 511)", "",
		"Node.js keeps the limit it is started with: raise LimitNOFILE= in its unit (or `ulimit -n %s` in what starts it), then restart it"},
	{"Java", []string{"java"}, "raise the Java server's accept queue: `new ServerSocket(port, %s)` (default 50), Tomcat `acceptCount=\"%s\"` (Spring Boot server.tomcat.accept-count, default 100), Jetty acceptQueueSize, Netty SO_BACKLOG", "", ""},
	{"Redis", []string{"redis-server", "valkey-server"}, "raise `tcp-backlog %s` in redis.conf (default 511)", "",
		"Redis sets its own limit at start to maxclients + 32 when its hard limit allows, and lowers maxclients when it cannot: start it with a hard limit of at least maxclients + 32 (LimitNOFILE=%s in its unit, or ulimit -Hn), then restart it; `redis-cli CONFIG GET maxclients` shows what it settled on"},
	{"PostgreSQL", []string{"postgres", "postmaster"}, "PostgreSQL has no backlog setting (%s wanted): it asks listen() for 2 × MaxBackends (max_connections + autovacuum_max_workers + 1 + max_worker_processes + max_wal_senders; at most 10000, then somaxconn), and raising max_connections for a longer queue is poor advice (each connection is a backend process with its own memory, and beyond the cores more of them slow every query). Put a pooler such as PgBouncer in front (its listen_backlog), or find why the postmaster is slow to accept (it forks a backend for each connection). " + pgReadSettings, "", ""},
	{"Apache httpd", []string{"apache2", "httpd"}, "raise `ListenBacklog %s` in the Apache configuration (default 511)", "", ""},
	{"PHP-FPM", []string{"php-fpm*"}, "raise `listen.backlog = %s` in the PHP-FPM pool (default 511; -1 asks for somaxconn), then restart php-fpm: a reload keeps the listening socket. A queue that stays full means every worker is busy: raise pm.max_children (the status page's \"max children reached\" counts it) or make requests faster, since a longer queue only makes them wait longer",
		"php-fpm keeps its listening sockets across a reload (SIGUSR2, `systemctl reload`), so only a restart calls listen() again",
		"set `rlimit_files = %s` in php-fpm.conf"},
	{"gunicorn", []string{"gunicorn"}, "raise gunicorn's `--backlog %s` (default 2048), then restart it or upgrade it in place (SIGUSR2): SIGHUP keeps the socket. A queue that stays full means every worker is busy: raise `--workers` (or `--threads`) first",
		"gunicorn keeps its listening socket on SIGHUP; a restart, or SIGUSR2's new master, calls listen() again", ""},
	{"uWSGI", []string{"uwsgi", "uwsgi-core"}, "raise uWSGI's `--listen %s` (`listen = %s` in its ini; default 100, which it warns about at start: \"your server socket listen backlog is limited to 100 connections\"); uWSGI refuses to start when it is above net.core.somaxconn, so raise somaxconn first. A queue that stays full means every worker is busy: raise `--processes` first", "", ""},
	{"PgBouncer", []string{"pgbouncer"}, "raise `listen_backlog = %s` in pgbouncer.ini (default 128)", "", "raise the service's `LimitNOFILE=` to %s: PgBouncer needs a descriptor for each client (max_client_conn) and each server connection"},
	{"uvicorn", []string{"uvicorn"}, "raise uvicorn's `--backlog %s` (default 2048)", "", ""},
	{"Python", []string{"python", "python2*", "python3*"}, "raise the backlog the Python program passes to listen(): socketserver's `request_queue_size = %s` on the server class (default 5, which http.server uses), or `sock.listen(%s)`", "", ""},
	{"MySQL", []string{"mysqld", "mariadbd"}, "raise `back_log = %s` in my.cnf", "", "set `open_files_limit = %s` in my.cnf"},
	{"memcached", []string{"memcached"}, "raise memcached's `-b %s` (default 1024)", "",
		"memcached sets its own limit at start from `-c` (its connection limit, default 1024): raise `-c` and restart it"},
	{"a Go program", []string{"caddy", "traefik", "etcd", "consul", "prometheus"}, goSetting, goRelisten, ""},
}

// pgReadSettings says how to read PostgreSQL's settings: backlogctl reads
// its configuration files; SHOW needs a login.
const pgReadSettings = "backlogctl reads them from the configuration the postmaster was started with; to read them yourself, `SHOW max_connections;` in a session (it needs a login), or `postgres -C max_connections -D DATADIR` as the server's user"

// goSetting and goRelisten are the Go net package's facts, for programs
// recognised by name or by their Go build information.
const (
	goSetting  = "Go's net package listens with somaxconn itself, so there is no backlog setting (%s wanted): raise net.core.somaxconn and restart it"
	goRelisten = "Go's net.Listen reads somaxconn when it listens, so a restart picks up the new value"
)

// goProgram is the Go entry, for owners inspect recognised as Go binaries.
var goProgram = program{Name: "a Go program", setting: goSetting, relisten: goRelisten}

// recognise finds the program among a listener's owners, or nil.
func recognise(ps []model.Process) *program {
	for _, p := range ps {
		cands := []string{strings.ToLower(p.Comm)}
		args := strings.Fields(p.Cmdline)
		for i := 0; i < len(args) && i < 2; i++ {
			// "nginx: master process ..." and interpreters running a tool.
			cands = append(cands, strings.ToLower(strings.TrimSuffix(filepath.Base(args[i]), ":")))
		}
		for i := range programs {
			for _, c := range cands {
				if programs[i].matches(c) {
					// An interpreter running a known tool names the tool.
					if programs[i].Name == "Python" && len(cands) > 2 {
						if q := recogniseName(cands[2]); q != nil {
							return q
						}
					}
					return &programs[i]
				}
			}
		}
	}
	for _, p := range ps {
		if p.GoVersion != "" {
			return &goProgram
		}
	}
	return nil
}

// recogniseName is recognise for one candidate name, never Python itself.
func recogniseName(name string) *program {
	for i := range programs {
		if programs[i].Name != "Python" && programs[i].matches(name) {
			return &programs[i]
		}
	}
	return nil
}

func (p program) matches(name string) bool {
	for _, n := range p.names {
		if prefix, ok := strings.CutSuffix(n, "*"); ok && strings.HasPrefix(name, prefix) || n == name {
			return true
		}
	}
	return false
}

// programFix says where the listener's backlog is set and to what.
func programFix(l model.Listener, want int64) string {
	value := "N"
	if want > 0 {
		value = fmt.Sprint(want)
	}
	if p := recognise(l.Processes); p != nil {
		fix := fmt.Sprintf("%s: %s", p.Name, strings.ReplaceAll(p.setting, "%s", value))
		if strings.HasPrefix(p.setting, "raise ") && !strings.Contains(p.setting, "reload") && !strings.Contains(p.setting, "restart") {
			fix += "; it takes effect when the program calls listen() again (usually a restart)"
		}
		if c := l.ConfiguredBacklog; c != nil && c.Program == p.Name {
			fix += ". Now " + configuredText(c)
		}
		return fix
	}
	who := "the program"
	if len(l.Processes) > 0 && l.Processes[0].Comm != "" {
		who = l.Processes[0].Comm
	}
	return fmt.Sprintf("raise the backlog %s passes to listen() to %s (its own setting, not a sysctl), then restart it", who, value)
}
