package advise

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/backlogctl/backlogctl/inspect"
)

// program is a server whose backlog setting we can name.
type program struct {
	// Name is how the finding names it.
	Name string
	// names are comm values or argv[0]/argv[1] basenames that identify it
	// (a trailing '*' matches a prefix: php-fpm8.2).
	names []string
	// setting says how to raise its backlog; %s is the recommended value.
	setting string
}

// programs are the servers whose backlog settings are well known. Defaults
// are the programs' own (nginx, Node, Redis, Apache: 511).
var programs = []program{
	{"nginx", []string{"nginx"}, "raise the `listen ... backlog=%s;` parameter in nginx's server block (default 511)"},
	{"HAProxy", []string{"haproxy"}, "raise HAProxy's `backlog %s` in the frontend (or `bind ... backlog %s`; default: maxconn)"},
	{"Node.js", []string{"node", "nodejs"}, "raise `server.listen({port, backlog: %s})` in the Node.js program (default 511)"},
	{"Java", []string{"java"}, "raise the Java server's accept queue: Tomcat `acceptCount=\"%s\"` (Spring Boot server.tomcat.accept-count, default 100), Jetty acceptQueueSize, Netty SO_BACKLOG"},
	{"Redis", []string{"redis-server", "valkey-server"}, "raise `tcp-backlog %s` in redis.conf (default 511)"},
	{"PostgreSQL", []string{"postgres", "postmaster"}, "PostgreSQL derives its listen() backlog from max_connections and has no backlog setting (%s wanted): put a pooler such as PgBouncer in front or raise max_connections"},
	{"Apache httpd", []string{"apache2", "httpd"}, "raise `ListenBacklog %s` in the Apache configuration (default 511)"},
	{"PHP-FPM", []string{"php-fpm*"}, "raise `listen.backlog = %s` in the PHP-FPM pool"},
	{"gunicorn", []string{"gunicorn"}, "raise gunicorn's `--backlog %s` (default 2048)"},
	{"uvicorn", []string{"uvicorn"}, "raise uvicorn's `--backlog %s` (default 2048)"},
	{"MySQL", []string{"mysqld", "mariadbd"}, "raise `back_log = %s` in my.cnf"},
	{"memcached", []string{"memcached"}, "raise memcached's `-b %s` (default 1024)"},
	{"a Go program", []string{"caddy", "traefik", "etcd", "consul", "prometheus"}, "Go's net package listens with somaxconn itself, so there is no backlog setting (%s wanted): raise net.core.somaxconn and restart it"},
}

// recognise finds the program among a listener's owners, or nil.
func recognise(ps []inspect.Process) *program {
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
					return &programs[i]
				}
			}
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
func programFix(l inspect.Listener, want int64) string {
	value := "N"
	if want > 0 {
		value = fmt.Sprint(want)
	}
	if p := recognise(l.Processes); p != nil {
		fix := fmt.Sprintf("%s: %s", p.Name, strings.ReplaceAll(p.setting, "%s", value))
		if strings.HasPrefix(p.setting, "raise ") {
			fix += "; it takes effect when the program calls listen() again (usually a restart)"
		}
		return fix
	}
	who := "the program"
	if len(l.Processes) > 0 && l.Processes[0].Comm != "" {
		who = l.Processes[0].Comm
	}
	return fmt.Sprintf("raise the backlog %s passes to listen() to %s (its own setting, not a sysctl), then restart it", who, value)
}
