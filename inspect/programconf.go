package inspect

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"path"
	"strconv"
	"strings"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/model"
)

// Programs' own defaults for the backlog they pass to listen().
const (
	phpFPMDefaultBacklog    = 511  // FPM_BACKLOG_DEFAULT on Linux
	gunicornDefaultBacklog  = 2048 // gunicorn's Backlog setting
	uwsgiDefaultBacklog     = 100  // uwsgi.listen_queue
	pgbouncerDefaultBacklog = 128  // cf_listen_backlog
)

// ReadProgramConfs fills the ConfiguredBacklog and ConnectionCap of each
// listener whose owner backlogctl knows how to read: the backlog of
// php-fpm, gunicorn, uWSGI, PgBouncer, memcached and PostgreSQL; the
// connection cap of HAProxy, PostgreSQL, memcached, gunicorn and uWSGI.
// It reads the configuration the owner was started with: its command line
// and environment, and its configuration files read through
// /proc/PID/root (hostfs.ProcessFile), so a containerised program's own
// files are read. A listener whose configuration cannot be read, or which
// no part of it matches, is left without.
func ReadProgramConfs(roots hostfs.Roots, ls []model.Listener) {
	cache := map[int]programConf{}
	for i := range ls {
		for _, p := range ls[i].Processes {
			conf, ok := cache[p.PID]
			if !ok {
				conf = readProgramConf(roots, p.PID)
				cache[p.PID] = conf
			}
			if ls[i].ConfiguredBacklog == nil {
				ls[i].ConfiguredBacklog = conf.backlogFor(&ls[i])
			}
			if ls[i].ConnectionCap == nil {
				ls[i].ConnectionCap = conf.capFor(&ls[i])
			}
		}
	}
}

// programConf is what one process's configuration says about its
// listeners.
type programConf interface {
	// backlogFor is the backlog l gets from this program, or nil.
	backlogFor(l *model.Listener) *model.ConfiguredBacklog
	// capFor is the cap on the connections this program holds at once
	// that applies to l, or nil.
	capFor(l *model.Listener) *model.ConnectionCap
}

// noConf is a process backlogctl does not know or could not read.
type noConf struct{}

func (noConf) backlogFor(*model.Listener) *model.ConfiguredBacklog { return nil }
func (noConf) capFor(*model.Listener) *model.ConnectionCap         { return nil }

// globalConf is a program with one backlog and one connection cap (nil
// when not known) for all its sockets.
type globalConf struct {
	backlog *model.ConfiguredBacklog
	cap     *model.ConnectionCap
}

func (g globalConf) backlogFor(*model.Listener) *model.ConfiguredBacklog {
	if g.backlog == nil {
		return nil
	}
	c := *g.backlog
	return &c
}

func (g globalConf) capFor(*model.Listener) *model.ConnectionCap {
	if g.cap == nil {
		return nil
	}
	c := *g.cap
	return &c
}

// procFiles reads what one process was started with, through hostfs.
type procFiles struct {
	roots   hostfs.Roots
	pid     int
	environ []string
}

func (p procFiles) file(name string) ([]byte, string, error) { return p.roots.ProcessFile(p.pid, name) }

func (p procFiles) glob(pattern string) []string { return p.roots.ProcessGlob(p.pid, pattern) }

// env is the process's environment variable name.
func (p procFiles) env(name string) (string, bool) {
	for _, kv := range p.environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}

// readProgramConf recognises the process pid by its command line and reads
// its configuration.
func readProgramConf(roots hostfs.Roots, pid int) programConf {
	args, err := roots.Args(pid)
	if err != nil || len(args) == 0 {
		return noConf{}
	}
	p := procFiles{roots: roots, pid: pid}
	p.environ, _ = roots.Environ(pid)
	// nginx's master rewrites its title into one argument.
	if rest, ok := strings.CutPrefix(args[0], "nginx: master process "); ok {
		return readNginx(p, strings.Fields(rest))
	}
	// php-fpm rewrites its title into one argument.
	if conf, ok := strings.CutPrefix(args[0], "php-fpm: master process ("); ok {
		if i := strings.LastIndexByte(conf, ')'); i >= 0 {
			return readPHPFPM(p, conf[:i])
		}
	}
	for i := 0; i < len(args) && i < 2; i++ {
		switch base := path.Base(args[i]); {
		case i == 0 && strings.HasPrefix(base, "php-fpm"):
			// Its own command line, before it sets the title: just
			// started, or re-executed by a reload.
			return readPHPFPMArgs(p, args[1:])
		case base == "gunicorn":
			return readGunicorn(p, args[i+1:])
		case base == "uwsgi" || base == "uwsgi-core":
			return readUWSGI(p, args[i+1:])
		case base == "pgbouncer":
			return readPgBouncer(p, args[i+1:])
		case i == 0 && base == "haproxy":
			return readHAProxy(p, args[1:])
		case i == 0 && (base == "postgres" || base == "postmaster"):
			return readPostgres(p, args[1:])
		case i == 0 && base == "memcached":
			return readMemcached(args[1:])
		}
	}
	return noConf{}
}

// iniLine is one "key = value" of an INI-style file.
type iniLine struct {
	section, key, value string
	file                string
	line                int
}

func (l iniLine) source() string { return fmt.Sprintf("%s:%d", l.file, l.line) }

// parseINI calls visit for each key = value line of an INI-style file, in
// order, with its section (starting in section); ';' and '#' start
// comments, and an unquoted value ends at ';'. A line without '=' is a key
// with an empty value (a directive such as PgBouncer's %include).
func parseINI(text []byte, file, section string, visit func(l iniLine)) {
	sc := bufio.NewScanner(bytes.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == ';' || line[0] == '#':
			continue
		case line[0] == '[' && strings.HasSuffix(line, "]"):
			section = strings.TrimSpace(line[1 : len(line)-1])
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			k, v = line, ""
		}
		visit(iniLine{section: section, key: strings.TrimSpace(k), value: iniValue(v), file: file, line: n})
	}
}

// readINI reads the INI-style file name and the files it includes, calling
// visit for each line in order. include says whether a line includes
// files, and which (as the process names them).
func (p procFiles) readINI(name string, include func(l iniLine) []string, visit func(l iniLine)) bool {
	var read func(name, section string, depth int) bool
	read = func(name, section string, depth int) bool {
		text, shown, err := p.file(name)
		if err != nil || depth > 8 {
			return false
		}
		parseINI(text, shown, section, func(l iniLine) {
			if files := include(l); files != nil {
				for _, f := range files {
					read(f, l.section, depth+1)
				}
				return
			}
			visit(l)
		})
		return true
	}
	return read(name, "", 0)
}

// iniValue is a value without quotes or a trailing comment.
func iniValue(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') {
		if i := strings.IndexByte(v[1:], v[0]); i >= 0 {
			return v[1 : i+1]
		}
	}
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

// readPHPFPMArgs reads php-fpm's configuration named by --fpm-config (-y)
// on its command line.
func readPHPFPMArgs(p procFiles, args []string) programConf {
	for i := 0; i < len(args); i++ {
		if v, n := flagValue(args, i, "--fpm-config", "-y"); n > 0 {
			return readPHPFPM(p, v)
		}
	}
	return noConf{}
}

// phpFPMConf is php-fpm's pools.
type phpFPMConf struct{ pools []phpFPMPool }

type phpFPMPool struct {
	name, listen string
	backlog      *iniLine
}

// readPHPFPM reads php-fpm.conf at conf and the files it includes.
func readPHPFPM(p procFiles, conf string) programConf {
	var lines []iniLine
	ok := p.readINI(conf, func(l iniLine) []string {
		if l.key != "include" {
			return nil
		}
		pattern := l.value
		if !path.IsAbs(pattern) {
			pattern = path.Join(path.Dir(l.file), pattern)
		}
		return p.glob(pattern) // not nil, even when nothing matches
	}, func(l iniLine) { lines = append(lines, l) })
	if !ok {
		return noConf{}
	}
	pools := map[string]int{} // pool name -> index in c.pools
	var c phpFPMConf
	for _, l := range lines {
		if l.section == "global" || l.section == "" {
			continue
		}
		i, ok := pools[l.section]
		if !ok {
			i = len(c.pools)
			pools[l.section] = i
			c.pools = append(c.pools, phpFPMPool{name: l.section})
		}
		l.value = p.expand(strings.ReplaceAll(l.value, "$pool", l.section))
		switch l.key {
		case "listen":
			c.pools[i].listen = l.value
		case "listen.backlog":
			c.pools[i].backlog = &l
		}
	}
	return c
}

func (p procFiles) expand(v string) string {
	for {
		i := strings.Index(v, "${")
		if i < 0 {
			return v
		}
		j := strings.IndexByte(v[i:], '}')
		if j < 0 {
			return v
		}
		val, _ := p.env(v[i+2 : i+j])
		v = v[:i] + val + v[i+j+1:]
	}
}

func (phpFPMConf) capFor(*model.Listener) *model.ConnectionCap { return nil }

func (c phpFPMConf) backlogFor(l *model.Listener) *model.ConfiguredBacklog {
	for _, pool := range c.pools {
		if !phpFPMListens(pool.listen, l) {
			continue
		}
		out := &model.ConfiguredBacklog{Program: "PHP-FPM", Setting: "listen.backlog", Value: phpFPMDefaultBacklog, Default: true}
		if pool.backlog != nil {
			v, err := strconv.ParseInt(pool.backlog.value, 10, 64)
			if err != nil {
				return nil
			}
			out.Value, out.Default, out.Source = v, false, pool.backlog.source()
		}
		return out
	}
	return nil
}

// phpFPMListens reports whether a pool's listen = value is listener l:
// a path for a Unix listener; "PORT", "ADDR:PORT" or "[ADDR]:PORT" for a
// TCP one (a host name matches any address on the port).
func phpFPMListens(listen string, l *model.Listener) bool {
	if listen == "" {
		return false
	}
	if l.IsUnix() {
		return path.Clean(listen) == l.Path
	}
	host, port := "", listen
	if i := strings.LastIndexByte(listen, ':'); i >= 0 {
		host, port = strings.Trim(listen[:i], "[]"), listen[i+1:]
	}
	if port != strconv.Itoa(int(l.Port)) {
		return false
	}
	a, err := netip.ParseAddr(host)
	return host == "" || err != nil || a.Unmap() == l.Addr.Unmap() || a.IsUnspecified()
}

// flagValue reads a flag's value from args at i: "--name=V" or "--name V"
// (and "-s V" for the short form). It returns the value and how many
// arguments it took.
func flagValue(args []string, i int, long, short string) (string, int) {
	a := args[i]
	if v, ok := strings.CutPrefix(a, long+"="); ok {
		return v, 1
	}
	if (a == long || (short != "" && a == short)) && i+1 < len(args) {
		return args[i+1], 2
	}
	return "", 0
}

// setting is a numeric setting's value and where it was read.
func setting(program, name, value, source string) (model.ConfiguredBacklog, bool) {
	v, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
	if err != nil {
		return model.ConfiguredBacklog{}, false
	}
	return model.ConfiguredBacklog{Program: program, Setting: name, Value: v, Source: source}, true
}

// readGunicorn reads gunicorn's backlog as it does: its default, then the
// configuration file (-c, or gunicorn.conf.py in the working directory),
// then GUNICORN_CMD_ARGS, then the command line.
func readGunicorn(p procFiles, args []string) programConf {
	out := model.ConfiguredBacklog{Program: "gunicorn", Setting: "--backlog", Value: gunicornDefaultBacklog, Default: true}
	conf := "gunicorn.conf.py"
	for i := 0; i < len(args); i++ {
		if v, n := flagValue(args, i, "--config", "-c"); n > 0 {
			conf = v
			i += n - 1
		}
	}
	if text, shown, err := p.file(conf); err == nil && !strings.Contains(conf, ":") {
		for n, line := range strings.Split(string(text), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if ok && strings.TrimSpace(k) == "backlog" {
				v, _, _ = strings.Cut(v, "#")
				if c, ok := setting("gunicorn", "backlog", v, fmt.Sprintf("%s:%d", shown, n+1)); ok {
					out = c
				}
			}
		}
	}
	fromArgs := func(args []string, source string) {
		for i := 0; i < len(args); i++ {
			if v, n := flagValue(args, i, "--backlog", ""); n > 0 {
				if c, ok := setting("gunicorn", "--backlog", v, source); ok {
					out = c
				}
				i += n - 1
			}
		}
	}
	if env, ok := p.env("GUNICORN_CMD_ARGS"); ok {
		fromArgs(strings.Fields(env), "GUNICORN_CMD_ARGS")
	}
	fromArgs(args, "command line")
	return globalConf{backlog: &out, cap: gunicornCap(p, conf, args)}
}

// uwsgiOption is one of uWSGI's options as its configuration gives it:
// its name as an ini key ("listen", "processes"), its value, where it is set.
type uwsgiOption struct{ key, value, source string }

// uwsgiFlags are the command-line flags of the options backlogctl reads,
// with the ini key each sets.
var uwsgiFlags = []struct{ long, short, key string }{
	{"--listen", "-l", "listen"}, {"--processes", "-p", "processes"}, {"--workers", "", "processes"}, {"--threads", "", "threads"},
}

// uwsgiOptions are uWSGI's options in the order it applies them: UWSGI_
// environment variables, then the command line in order, with the [uwsgi]
// section of each --ini file (or bare *.ini argument) where it appears.
// "workers" is named "processes".
func uwsgiOptions(p procFiles, args []string) []uwsgiOption {
	var out []uwsgiOption
	add := func(key, value, source string) {
		if key == "workers" {
			key = "processes"
		}
		out = append(out, uwsgiOption{key, value, source})
	}
	for _, k := range []string{"listen", "processes", "workers", "threads"} {
		if env, ok := p.env("UWSGI_" + strings.ToUpper(k)); ok {
			add(k, env, "UWSGI_"+strings.ToUpper(k))
		}
	}
	for i := 0; i < len(args); i++ {
		file, n := flagValue(args, i, "--ini", "")
		if n == 0 && strings.HasSuffix(args[i], ".ini") && !strings.HasPrefix(args[i], "-") {
			file, n = args[i], 1
		}
		if n > 0 {
			p.readINI(file, func(iniLine) []string { return nil }, func(l iniLine) {
				if l.section == "uwsgi" {
					add(l.key, l.value, l.source())
				}
			})
			i += n - 1
			continue
		}
		for _, f := range uwsgiFlags {
			if v, n := flagValue(args, i, f.long, f.short); n > 0 {
				add(f.key, v, "command line")
				i += n - 1
				break
			}
		}
	}
	return out
}

// readUWSGI reads uWSGI's listen queue and its workers (uwsgiOptions).
func readUWSGI(p procFiles, args []string) programConf {
	opts := uwsgiOptions(p, args)
	out := model.ConfiguredBacklog{Program: "uWSGI", Setting: "listen", Value: uwsgiDefaultBacklog, Default: true}
	for _, o := range opts {
		if o.key != "listen" {
			continue
		}
		name := "listen"
		if o.source == "command line" {
			name = "--listen"
		}
		if c, ok := setting("uWSGI", name, o.value, o.source); ok {
			out = c
		}
	}
	return globalConf{backlog: &out, cap: uwsgiCap(opts)}
}

// readPgBouncer reads listen_backlog from the [pgbouncer] section of the
// configuration file named on PgBouncer's command line (and the files it
// %includes).
func readPgBouncer(p procFiles, args []string) programConf {
	var conf string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-u" || a == "--user":
			i++ // takes a value
		case strings.HasPrefix(a, "-"):
		default:
			conf = a
		}
	}
	if conf == "" {
		return noConf{}
	}
	out := model.ConfiguredBacklog{Program: "PgBouncer", Setting: "listen_backlog", Value: pgbouncerDefaultBacklog, Default: true}
	ok := p.readINI(conf, func(l iniLine) []string {
		if inc, ok := strings.CutPrefix(l.key, "%include "); ok {
			return []string{strings.TrimSpace(inc)}
		}
		return nil
	}, func(l iniLine) {
		if l.section == "pgbouncer" && l.key == "listen_backlog" {
			if c, ok := setting("PgBouncer", "listen_backlog", l.value, l.source()); ok {
				out = c
			}
		}
	})
	if !ok {
		return noConf{}
	}
	return globalConf{backlog: &out}
}
