package inspect

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/model"
)

func TestReadConfiguredBacklogs(t *testing.T) {
	unixL := func(path string, pids ...int) model.Listener {
		l := model.Listener{Family: model.FamilyUnix, Path: path}
		for _, pid := range pids {
			l.Processes = append(l.Processes, model.Process{PID: pid})
		}
		return l
	}
	tcpL := func(ep string, pids ...int) model.Listener {
		ap := netip.MustParseAddrPort(ep)
		l := unixL("", pids...)
		l.Family, l.Path, l.Addr, l.Address, l.Port = "ipv4", "", ap.Addr(), ap.Addr().String(), ap.Port()
		return l
	}
	tests := []struct {
		name string
		l    model.Listener
		want *model.ConfiguredBacklog
	}{
		{"php-fpm pool from an included file, the master among the owners, the commented line skipped",
			unixL("/run/php/php8.2-fpm.sock", 101, 100),
			&model.ConfiguredBacklog{Program: "PHP-FPM", Setting: "listen.backlog", Value: 8, Source: "/etc/php/8.2/fpm/pool.d/www.conf:5"}},
		{"php-fpm pool whose listen uses ${ENV} and $pool, without listen.backlog: the default",
			unixL("/run/php/api.sock", 100),
			&model.ConfiguredBacklog{Program: "PHP-FPM", Setting: "listen.backlog", Value: 511, Default: true}},
		{"php-fpm pool on TCP, -1 (somaxconn)",
			tcpL("127.0.0.1:9000", 100),
			&model.ConfiguredBacklog{Program: "PHP-FPM", Setting: "listen.backlog", Value: -1, Source: "/etc/php/8.2/fpm/pool.d/tcp.conf:3"}},
		{"php-fpm before it sets its title (just started or re-executed): --fpm-config",
			unixL("/run/php/php8.2-fpm.sock", 103),
			&model.ConfiguredBacklog{Program: "PHP-FPM", Setting: "listen.backlog", Value: 8, Source: "/etc/php/8.2/fpm/pool.d/www.conf:5"}},
		{"php-fpm: no pool listens there", tcpL("127.0.0.1:9001", 100), nil},
		{"php-fpm: only a worker among the owners", unixL("/run/php/php8.2-fpm.sock", 101), nil},
		{"php-fpm: its configuration is not readable", unixL("/run/php/php8.2-fpm.sock", 102), nil},
		{"gunicorn: the -c file, relative to its working directory; GUNICORN_CMD_ARGS without --backlog",
			unixL("/run/g.sock", 200),
			&model.ConfiguredBacklog{Program: "gunicorn", Setting: "backlog", Value: 64, Source: "conf/gunicorn.conf.py:2"}},
		{"gunicorn: the command line over GUNICORN_CMD_ARGS over gunicorn.conf.py",
			unixL("/run/g.sock", 201),
			&model.ConfiguredBacklog{Program: "gunicorn", Setting: "--backlog", Value: 32, Source: "command line"}},
		{"gunicorn: nothing set", unixL("/run/g.sock", 202),
			&model.ConfiguredBacklog{Program: "gunicorn", Setting: "--backlog", Value: 2048, Default: true}},
		{"uWSGI: --listen after --ini wins", unixL("/run/uwsgi/app.sock", 300),
			&model.ConfiguredBacklog{Program: "uWSGI", Setting: "--listen", Value: 256, Source: "command line"}},
		{"uWSGI: a bare .ini argument", unixL("/run/uwsgi/app.sock", 301),
			&model.ConfiguredBacklog{Program: "uWSGI", Setting: "listen", Value: 1024, Source: "/etc/uwsgi/app.ini:3"}},
		{"uWSGI: UWSGI_LISTEN", unixL("/run/u.sock", 302),
			&model.ConfiguredBacklog{Program: "uWSGI", Setting: "listen", Value: 50, Source: "UWSGI_LISTEN"}},
		{"PgBouncer: a later %include overrides", unixL("/run/postgresql/.s.PGSQL.6432", 400),
			&model.ConfiguredBacklog{Program: "PgBouncer", Setting: "listen_backlog", Value: 2000, Source: "/etc/pgbouncer/extra.ini:1"}},
		{"PgBouncer on TCP too", tcpL("127.0.0.1:6432", 400),
			&model.ConfiguredBacklog{Program: "PgBouncer", Setting: "listen_backlog", Value: 2000, Source: "/etc/pgbouncer/extra.ini:1"}},
		{"a program backlogctl does not read", tcpL("0.0.0.0:80", 500), nil},
		{"a process that is gone", unixL("/run/x.sock", 999), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls := []model.Listener{tt.l}
			ReadProgramConfs(hostfs.Roots{Proc: "testdata/programs/proc"}, ls)
			if diff := cmp.Diff(tt.want, ls[0].ConfiguredBacklog); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadConnectionCaps(t *testing.T) {
	tcpL := func(ep string, pids ...int) model.Listener {
		ap := netip.MustParseAddrPort(ep)
		l := model.Listener{Family: "ipv4", Addr: ap.Addr(), Address: ap.Addr().String(), Port: ap.Port()}
		if ap.Addr().Is6() {
			l.Family = "ipv6"
		}
		for _, pid := range pids {
			l.Processes = append(l.Processes, model.Process{PID: pid})
		}
		return l
	}
	const haproxyCfg = "/etc/haproxy/haproxy.cfg"
	tests := []struct {
		name    string
		l       model.Listener
		want    *model.ConnectionCap
		backlog *model.ConfiguredBacklog
	}{
		{"HAProxy: the global maxconn, below the defaults section's", tcpL("0.0.0.0:81", 600),
			&model.ConnectionCap{Program: "HAProxy", Setting: "maxconn (global)", Value: 20, Source: haproxyCfg + ":2"}, nil},
		{"HAProxy: a frontend's own maxconn below the global", tcpL("127.0.0.1:8080", 600),
			&model.ConnectionCap{Program: "HAProxy", Setting: "maxconn (frontend api)", Value: 8, Source: haproxyCfg + ":15"}, nil},
		{"HAProxy: a listen section's address on its line", tcpL("127.0.0.1:8404", 600),
			&model.ConnectionCap{Program: "HAProxy", Setting: "maxconn (global)", Value: 20, Source: haproxyCfg + ":2"}, nil},
		{"HAProxy: no bind on the port", tcpL("0.0.0.0:9999", 600), nil, nil},
		{"HAProxy: -f a directory, the defaults from another file", tcpL("[::]:443", 601),
			&model.ConnectionCap{Program: "HAProxy", Setting: "maxconn (frontend www)", Value: 300, Source: "/etc/haproxy/conf.d/00-defaults.cfg:2"}, nil},
		{"PostgreSQL: config_file, include_dir and postgresql.auto.conf", tcpL("127.0.0.1:5432", 700),
			&model.ConnectionCap{Program: "PostgreSQL", Setting: "max_connections", Value: 20, Refuses: true,
				Source: "/etc/postgresql/15/main/postgresql.conf:3", Detail: "3 of them for superusers only (superuser_reserved_connections)"},
			&model.ConfiguredBacklog{Program: "PostgreSQL", Setting: "2 × MaxBackends", Value: 56, Source: "/etc/postgresql/15/main/postgresql.conf:3",
				Detail: "MaxBackends 28 = max_connections 20 + autovacuum_max_workers 3 + 1 + max_worker_processes 4 + max_wal_senders 0"}},
		{"PostgreSQL: -N on the command line", tcpL("127.0.0.1:5432", 701),
			&model.ConnectionCap{Program: "PostgreSQL", Setting: "max_connections", Value: 40, Refuses: true, Source: "command line",
				Detail: "3 of them for superusers only (superuser_reserved_connections)"},
			&model.ConfiguredBacklog{Program: "PostgreSQL", Setting: "2 × MaxBackends", Value: 124, Source: "command line",
				Detail: "MaxBackends 62 = max_connections 40 + autovacuum_max_workers 3 + 1 + max_worker_processes 8 + max_wal_senders 10"}},
		{"PostgreSQL: every default", tcpL("127.0.0.1:5432", 702),
			&model.ConnectionCap{Program: "PostgreSQL", Setting: "max_connections", Value: 100, Refuses: true, Default: true,
				Detail: "3 of them for superusers only (superuser_reserved_connections)"},
			&model.ConfiguredBacklog{Program: "PostgreSQL", Setting: "2 × MaxBackends", Value: 244, Default: true,
				Detail: "MaxBackends 122 = max_connections 100 + autovacuum_max_workers 3 + 1 + max_worker_processes 8 + max_wal_senders 10"}},
		{"memcached: -c and -b", tcpL("127.0.0.1:11211", 800),
			&model.ConnectionCap{Program: "memcached", Setting: "-c", Value: 64, Source: "command line"},
			&model.ConfiguredBacklog{Program: "memcached", Setting: "-b", Value: 8, Source: "command line"}},
		{"memcached: --conn-limit=", tcpL("127.0.0.1:11211", 801),
			&model.ConnectionCap{Program: "memcached", Setting: "-c", Value: 4096, Source: "command line"},
			&model.ConfiguredBacklog{Program: "memcached", Setting: "-b", Value: 1024, Default: true}},
		{"gunicorn: GUNICORN_CMD_ARGS --workers", tcpL("127.0.0.1:8000", 200),
			&model.ConnectionCap{Program: "gunicorn", Setting: "--workers", Value: 3, Source: "GUNICORN_CMD_ARGS"},
			&model.ConfiguredBacklog{Program: "gunicorn", Setting: "backlog", Value: 64, Source: "conf/gunicorn.conf.py:2"}},
		{"gunicorn: -w 4 --threads 2", tcpL("127.0.0.1:8000", 203),
			&model.ConnectionCap{Program: "gunicorn", Setting: "--workers", Value: 8, Source: "command line", Detail: "--workers 4 × --threads 2"},
			&model.ConfiguredBacklog{Program: "gunicorn", Setting: "--backlog", Value: 2048, Default: true}},
		{"gunicorn: async workers", tcpL("127.0.0.1:8000", 204),
			&model.ConnectionCap{Program: "gunicorn", Setting: "--workers", Value: 2000, Source: "command line", Detail: "--workers 2 × --worker-connections 1000"},
			&model.ConfiguredBacklog{Program: "gunicorn", Setting: "--backlog", Value: 2048, Default: true}},
		{"gunicorn: workers computed in its config file: not known", tcpL("127.0.0.1:8000", 205), nil,
			&model.ConfiguredBacklog{Program: "gunicorn", Setting: "--backlog", Value: 2048, Default: true}},
		{"gunicorn: defaults", tcpL("127.0.0.1:8000", 202),
			&model.ConnectionCap{Program: "gunicorn", Setting: "--workers", Value: 1, Default: true},
			&model.ConfiguredBacklog{Program: "gunicorn", Setting: "--backlog", Value: 2048, Default: true}},
		{"uWSGI: processes × threads from the ini", tcpL("127.0.0.1:8000", 300),
			&model.ConnectionCap{Program: "uWSGI", Setting: "--processes", Value: 8, Source: "/etc/uwsgi/app.ini:4", Detail: "--processes 4 × --threads 2"},
			&model.ConfiguredBacklog{Program: "uWSGI", Setting: "--listen", Value: 256, Source: "command line"}},
	}
	nginx := func(ep string, master int, workers int) model.Listener {
		l := tcpL(ep, master)
		l.Processes[0].Cmdline = "nginx: master process"
		for i := range workers {
			l.Processes = append(l.Processes, model.Process{PID: 1000 + i, Cmdline: "nginx: worker process"})
		}
		return l
	}
	tests = append(tests, []struct {
		name    string
		l       model.Listener
		want    *model.ConnectionCap
		backlog *model.ConfiguredBacklog
	}{
		{"nginx: worker_connections in events × its workers", nginx("0.0.0.0:80", 900, 2),
			&model.ConnectionCap{Program: "nginx", Setting: "worker_connections", Value: 1536, Refuses: true,
				Source: "/etc/nginx/nginx.conf:6", Detail: "worker_connections 768 × 2 workers"}, nil},
		{"nginx: -c relative to -p, the default", nginx("0.0.0.0:8080", 901, 1),
			&model.ConnectionCap{Program: "nginx", Setting: "worker_connections", Value: 512, Refuses: true, Default: true,
				Detail: "worker_connections 512 × 1 worker"}, nil},
		{"nginx: no worker among the owners", nginx("0.0.0.0:80", 900, 0), nil, nil},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls := []model.Listener{tt.l}
			ReadProgramConfs(hostfs.Roots{Proc: "testdata/programs/proc"}, ls)
			if diff := cmp.Diff(tt.want, ls[0].ConnectionCap); diff != "" {
				t.Errorf("cap (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.backlog, ls[0].ConfiguredBacklog); diff != "" {
				t.Errorf("backlog (-want +got):\n%s", diff)
			}
		})
	}
}
