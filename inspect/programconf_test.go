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
			ReadConfiguredBacklogs(hostfs.Roots{Proc: "testdata/programs/proc"}, ls)
			if diff := cmp.Diff(tt.want, ls[0].ConfiguredBacklog); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
