package inspect

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/backlogctl/backlogctl/model"
)

// The programs' own defaults for what caps their concurrent connections.
const (
	memcachedDefaultConns   = 1024 // settings.maxconns
	memcachedDefaultBacklog = 1024 // settings.backlog
	gunicornDefaultWorkers  = 1
	gunicornDefaultConns    = 1000 // worker_connections of async workers
	uwsgiDefaultProcesses   = 1
	nginxDefaultConns       = 512 // worker_connections
	// nginxDefaultConf is where Debian's nginx reads its configuration
	// when no -c names it.
	nginxDefaultConf = "/etc/nginx/nginx.conf"
	// PostgreSQL's defaults for what makes MaxBackends (postinit.c
	// InitializeMaxBackends), and PG_SOMAXCONN (pg_config_manual.h), the
	// most it asks listen() for.
	pgDefaultMaxConnections   = 100
	pgDefaultAutovacuumMax    = 3
	pgDefaultMaxWorkers       = 8
	pgDefaultMaxWalSenders    = 10
	pgDefaultSuperuserReserve = 3
	pgSomaxconn               = 10000
)

// haproxyConf is HAProxy's maxconn settings: the global section's, and
// each frontend's (its own, or its defaults section's) with its binds.
type haproxyConf struct {
	global    *setAt
	frontends []haproxyFrontend
}

// setAt is a numeric setting and where it was set.
type setAt struct {
	value  int64
	source string
}

type haproxyFrontend struct {
	name    string
	binds   []string
	maxconn *setAt
}

func (haproxyConf) backlogFor(*model.Listener) *model.ConfiguredBacklog { return nil }

// capFor is the lowest maxconn that applies to l's frontend: its own (or
// its defaults section's), and the global one, which caps the process.
func (c haproxyConf) capFor(l *model.Listener) *model.ConnectionCap {
	var best *model.ConnectionCap
	offer := func(s *setAt, setting string) {
		if s != nil && (best == nil || s.value < best.Value) {
			best = &model.ConnectionCap{Program: "HAProxy", Setting: setting, Value: s.value, Source: s.source}
		}
	}
	for _, f := range c.frontends {
		if slices.ContainsFunc(f.binds, func(b string) bool { return haproxyBinds(b, l) }) {
			offer(f.maxconn, "maxconn (frontend "+f.name+")")
			offer(c.global, "maxconn (global)")
			return best
		}
	}
	return nil
}

// haproxyBinds reports whether a bind line's address list ("127.0.0.1:80",
// ":80", "*:80,*:81", "[::]:443", "ipv4@:80") listens on l.
func haproxyBinds(bind string, l *model.Listener) bool {
	if l.IsUnix() {
		return false
	}
	for _, a := range strings.Split(bind, ",") {
		if _, rest, ok := strings.Cut(a, "@"); ok {
			a = rest
		}
		i := strings.LastIndexByte(a, ':')
		if i < 0 {
			continue
		}
		host, ports := strings.Trim(a[:i], "[]"), a[i+1:]
		lo, hi, _ := strings.Cut(ports, "-")
		from, err1 := strconv.Atoi(lo)
		to, err2 := strconv.Atoi(hi)
		if err2 != nil {
			to = from
		}
		if err1 != nil || int(l.Port) < from || int(l.Port) > to {
			continue
		}
		addr, err := netip.ParseAddr(host)
		if host == "" || host == "*" || err == nil && (addr.IsUnspecified() || addr.Unmap() == l.Addr.Unmap()) || err != nil {
			return true
		}
	}
	return false
}

// readHAProxy reads the configuration files (or directories of *.cfg
// files) HAProxy's command line names with -f, in order, as one text:
// a defaults section applies to the proxies after it, whatever the file.
func readHAProxy(p procFiles, args []string) programConf {
	var files []string
	for i := 0; i < len(args); i++ {
		if v, n := flagValue(args, i, "-f", ""); n > 0 {
			if _, _, err := p.file(v); err == nil {
				files = append(files, v)
			} else if cfgs := p.glob(path.Join(v, "*.cfg")); len(cfgs) > 0 {
				slices.Sort(cfgs)
				files = append(files, cfgs...)
			}
			i += n - 1
		}
	}
	if len(files) == 0 {
		return noConf{}
	}
	var c haproxyConf
	var section string
	var defaults, own *setAt
	var fe *haproxyFrontend
	closeProxy := func() {
		if fe != nil {
			fe.maxconn = own
			if own == nil {
				fe.maxconn = defaults
			}
			c.frontends = append(c.frontends, *fe)
		}
		fe, own = nil, nil
	}
	for _, file := range files {
		text, shown, err := p.file(file)
		if err != nil {
			return noConf{}
		}
		sc := bufio.NewScanner(bytes.NewReader(text))
		for n := 1; sc.Scan(); n++ {
			line, _, _ := strings.Cut(sc.Text(), "#")
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			switch f[0] {
			case "global", "defaults", "frontend", "listen", "backend", "peers", "resolvers", "userlist", "program",
				"http-errors", "ring", "mailers", "cache", "crt-store", "traces":
				closeProxy()
				section = f[0]
				if section == "defaults" {
					defaults = nil
				}
				if section == "frontend" || section == "listen" {
					fe = &haproxyFrontend{name: strings.Join(f[1:2], "")}
					if section == "listen" && len(f) > 2 {
						fe.binds = append(fe.binds, f[2]) // "listen NAME ADDR:PORT"
					}
				}
				continue
			}
			at := &setAt{source: fmt.Sprintf("%s:%d", shown, n)}
			switch {
			case f[0] == "maxconn" && len(f) > 1:
				v, err := strconv.ParseInt(f[1], 10, 64)
				if err != nil {
					continue
				}
				at.value = v
				switch section {
				case "global":
					c.global = at
				case "defaults":
					defaults = at
				case "frontend", "listen":
					own = at
				}
			case f[0] == "bind" && len(f) > 1 && fe != nil:
				fe.binds = append(fe.binds, f[1])
			}
		}
	}
	closeProxy()
	return c
}

// nginxConf is nginx's worker_connections: how many connections each
// worker holds at most (upstream ones too).
type nginxConf struct{ conns setAt }

func (nginxConf) backlogFor(*model.Listener) *model.ConfiguredBacklog { return nil }

// capFor is worker_connections times the workers among l's owners: a
// worker with none free accepts and closes the connection at once
// (ngx_event_accept, "worker_connections are not enough").
func (c nginxConf) capFor(l *model.Listener) *model.ConnectionCap {
	workers := 0
	for _, p := range l.Processes {
		if strings.HasPrefix(p.Cmdline, "nginx: worker process") {
			workers++
		}
	}
	if workers == 0 {
		return nil
	}
	cp := &model.ConnectionCap{Program: "nginx", Setting: "worker_connections", Value: c.conns.value * int64(workers),
		Source: c.conns.source, Default: c.conns.source == "", Refuses: true}
	cp.Detail = fmt.Sprintf("worker_connections %d × %d workers", c.conns.value, workers)
	if workers == 1 {
		cp.Detail = fmt.Sprintf("worker_connections %d × 1 worker", c.conns.value)
	}
	return cp
}

// readNginx reads worker_connections from the configuration file the
// master names with -c (relative to its -p prefix), or Debian's, in its
// events block; -g's directives do not set it.
func readNginx(p procFiles, args []string) programConf {
	conf, prefix := nginxDefaultConf, ""
	for i := 0; i < len(args); i++ {
		if v, n := flagValue(args, i, "-c", ""); n > 0 {
			conf = v
			i += n - 1
		} else if v, n := flagValue(args, i, "-p", ""); n > 0 {
			prefix = v
			i += n - 1
		}
	}
	if !path.IsAbs(conf) && prefix != "" {
		conf = path.Join(prefix, conf)
	}
	text, shown, err := p.file(conf)
	if err != nil {
		return noConf{}
	}
	c := nginxConf{conns: setAt{value: nginxDefaultConns}}
	var blocks []string
	line := 1
	for _, tok := range nginxTokens(string(text), &line) {
		switch {
		case tok.word == "{":
			blocks = append(blocks, tok.prev)
		case tok.word == "}" && len(blocks) > 0:
			blocks = blocks[:len(blocks)-1]
		case len(tok.args) == 2 && tok.args[0] == "worker_connections" && len(blocks) == 1 && blocks[0] == "events":
			if n, err := strconv.ParseInt(tok.args[1], 10, 64); err == nil {
				c.conns = setAt{n, fmt.Sprintf("%s:%d", shown, tok.line)}
			}
		}
	}
	return c
}

// nginxToken is a brace, or a directive ended by ';' with its words and
// line; prev is the directive a '{' opens.
type nginxToken struct {
	word, prev string
	args       []string
	line       int
}

// nginxTokens splits an nginx configuration into directives and braces,
// without comments.
func nginxTokens(text string, line *int) []nginxToken {
	var out []nginxToken
	var words []string
	start := *line
	flush := func(end string) {
		if len(words) > 0 || end == ";" {
			out = append(out, nginxToken{word: ";", args: words, line: start})
		}
		words = nil
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for ; sc.Scan(); *line++ {
		l, _, _ := strings.Cut(sc.Text(), "#")
		for _, f := range strings.FieldsFunc(strings.NewReplacer("{", " { ", "}", " } ", ";", " ; ").Replace(l), unicode.IsSpace) {
			switch f {
			case ";":
				flush(";")
			case "{":
				prev := strings.Join(words, " ")
				if len(words) > 0 {
					prev = words[0]
				}
				words = nil
				out = append(out, nginxToken{word: "{", prev: prev, line: *line})
			case "}":
				words = nil
				out = append(out, nginxToken{word: "}", line: *line})
			default:
				if len(words) == 0 {
					start = *line
				}
				words = append(words, f)
			}
		}
	}
	return out
}

// postgresConf is what PostgreSQL's configuration makes of its listen()
// backlog and its connection cap.
type postgresConf struct {
	backlog model.ConfiguredBacklog
	cap     model.ConnectionCap
}

func (c postgresConf) backlogFor(l *model.Listener) *model.ConfiguredBacklog {
	b := c.backlog
	return &b
}

func (c postgresConf) capFor(l *model.Listener) *model.ConnectionCap {
	cp := c.cap
	return &cp
}

// pgSettings are the settings MaxBackends is made of, with their defaults.
var pgSettings = map[string]int64{
	"max_connections": pgDefaultMaxConnections, "autovacuum_max_workers": pgDefaultAutovacuumMax,
	"max_worker_processes": pgDefaultMaxWorkers, "max_wal_senders": pgDefaultMaxWalSenders,
	"superuser_reserved_connections": pgDefaultSuperuserReserve,
}

// readPostgres reads the postmaster's settings as PostgreSQL does: its
// configuration file (config_file on the command line, or postgresql.conf
// in the data directory -D names) with the files it includes, then
// postgresql.auto.conf in the data directory (ALTER SYSTEM), then -c
// name=value and --name=value on the command line. Its listen() backlog is
// 2 × MaxBackends (pqcomm.c, StreamServerPort: listen(fd, MaxBackends * 2),
// at most PG_SOMAXCONN), MaxBackends being max_connections +
// autovacuum_max_workers + 1 + max_worker_processes + max_wal_senders
// (postinit.c, InitializeMaxBackends, PostgreSQL 12 and later).
func readPostgres(p procFiles, args []string) programConf {
	data, config := "", ""
	set := map[string]setAt{}
	var cmdline []string // name=value, in order
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-D" && i+1 < len(args):
			data = args[i+1]
			i++
		case a == "-c" && i+1 < len(args):
			cmdline = append(cmdline, args[i+1])
			i++
		case a == "-N" && i+1 < len(args):
			cmdline = append(cmdline, "max_connections="+args[i+1])
			i++
		case strings.HasPrefix(a, "--") && strings.Contains(a, "="):
			cmdline = append(cmdline, strings.ReplaceAll(strings.TrimPrefix(a, "--"), "-", "_"))
		}
	}
	if data == "" {
		data, _ = p.env("PGDATA")
	}
	for _, kv := range cmdline {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.EqualFold(strings.ReplaceAll(k, "-", "_"), "config_file") {
			config = v
		}
	}
	if config == "" {
		if data == "" {
			return noConf{}
		}
		config = path.Join(data, "postgresql.conf")
	}
	read := false
	var visit func(file string, depth int)
	visit = func(file string, depth int) {
		text, shown, err := p.file(file)
		if err != nil || depth > 10 {
			return
		}
		read = true
		for ln, line := range strings.Split(string(text), "\n") {
			k, v, ok := pgLine(line)
			if !ok {
				continue
			}
			switch k {
			case "include", "include_if_exists":
				visit(pgPath(file, v), depth+1)
			case "include_dir":
				confs := p.glob(path.Join(pgPath(file, v), "*.conf"))
				slices.Sort(confs)
				for _, c := range confs {
					visit(c, depth+1)
				}
			case "data_directory":
				if data == "" || depth == 0 {
					data = v
				}
			default:
				if _, known := pgSettings[k]; known {
					if n, err := strconv.ParseInt(v, 10, 64); err == nil {
						set[k] = setAt{value: n, source: fmt.Sprintf("%s:%d", shown, ln+1)}
					}
				}
			}
		}
	}
	visit(config, 0)
	if !read {
		return noConf{}
	}
	if data != "" {
		visit(path.Join(data, "postgresql.auto.conf"), 1)
	}
	for _, kv := range cmdline {
		k, v, _ := strings.Cut(kv, "=")
		if _, known := pgSettings[strings.ToLower(k)]; known {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				set[strings.ToLower(k)] = setAt{value: n, source: "command line"}
			}
		}
	}
	value := func(k string) int64 {
		if s, ok := set[k]; ok {
			return s.value
		}
		return pgSettings[k]
	}
	mc, av, mw, ws := value("max_connections"), value("autovacuum_max_workers"), value("max_worker_processes"), value("max_wal_senders")
	backends := mc + av + 1 + mw + ws
	c := postgresConf{
		backlog: model.ConfiguredBacklog{Program: "PostgreSQL", Setting: "2 × MaxBackends", Value: min(2*backends, pgSomaxconn),
			Detail: fmt.Sprintf("MaxBackends %d = max_connections %d + autovacuum_max_workers %d + 1 + max_worker_processes %d + max_wal_senders %d",
				backends, mc, av, mw, ws)},
		cap: model.ConnectionCap{Program: "PostgreSQL", Setting: "max_connections", Value: mc, Refuses: true,
			Detail: fmt.Sprintf("%d of them for superusers only (superuser_reserved_connections)", value("superuser_reserved_connections"))},
	}
	if s, ok := set["max_connections"]; ok {
		c.backlog.Source, c.cap.Source = s.source, s.source
	} else {
		c.cap.Default = true
		c.backlog.Default = len(set) == 0
	}
	return c
}

// pgLine reads one postgresql.conf line: "name = value", "name value" or
// "include 'file'", with '#' comments and quoted values; the name in lower
// case.
func pgLine(line string) (name, value string, ok bool) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return "", "", false
	}
	i := strings.IndexAny(line, " \t=")
	if i < 0 {
		return "", "", false
	}
	name, rest := strings.ToLower(line[:i]), strings.TrimLeft(line[i:], " \t")
	rest = strings.TrimLeft(strings.TrimPrefix(rest, "="), " \t")
	if strings.HasPrefix(rest, "'") {
		if j := strings.IndexByte(rest[1:], '\''); j >= 0 {
			return name, rest[1 : j+1], true
		}
		return "", "", false
	}
	value, _, _ = strings.Cut(rest, "#")
	return name, strings.TrimSpace(value), true
}

// pgPath is an included file's path: relative to the including file's
// directory.
func pgPath(from, name string) string {
	if path.IsAbs(name) {
		return name
	}
	return path.Join(path.Dir(from), name)
}

// readMemcached reads memcached's command line: -c (--conn-limit), its
// connection cap, at which it stops accepting (memcached.c,
// accept_new_conns), and -b (--listen-backlog).
func readMemcached(args []string) programConf {
	c := globalConf{backlog: &model.ConfiguredBacklog{Program: "memcached", Setting: "-b", Value: memcachedDefaultBacklog, Default: true},
		cap: &model.ConnectionCap{Program: "memcached", Setting: "-c", Value: memcachedDefaultConns, Default: true}}
	for i := 0; i < len(args); i++ {
		if v, n := flagValue(args, i, "--conn-limit", "-c"); n > 0 {
			if s, ok := setting("memcached", "-c", v, "command line"); ok {
				c.cap = &model.ConnectionCap{Program: "memcached", Setting: "-c", Value: s.Value, Source: "command line"}
			}
			i += n - 1
		} else if v, n := flagValue(args, i, "--listen-backlog", "-b"); n > 0 {
			if s, ok := setting("memcached", "-b", v, "command line"); ok {
				c.backlog = &s
			}
			i += n - 1
		}
	}
	return c
}

// gunicornCap is how many connections gunicorn's workers handle at once:
// --workers (or WEB_CONCURRENCY) × --threads for its sync and gthread
// workers, which accept only when one is free; × --worker-connections for
// its async ones. Read as readGunicorn reads the backlog: the config file
// conf, GUNICORN_CMD_ARGS, then the command line. nil when a value is not
// a plain number (a config file may compute it).
func gunicornCap(p procFiles, conf string, args []string) *model.ConnectionCap {
	vals := map[string]setAt{}
	class := "sync"
	if env, ok := p.env("WEB_CONCURRENCY"); ok {
		if n, err := strconv.ParseInt(env, 10, 64); err == nil {
			vals["workers"] = setAt{n, "WEB_CONCURRENCY"}
		}
	}
	if text, shown, err := p.file(conf); err == nil && !strings.Contains(conf, ":") {
		for n, line := range strings.Split(string(text), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			k = strings.TrimSpace(k)
			v, _, _ = strings.Cut(v, "#")
			v = strings.Trim(strings.TrimSpace(v), `"'`)
			switch k {
			case "workers", "threads", "worker_connections":
				x, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return nil
				}
				vals[k] = setAt{x, fmt.Sprintf("%s:%d", shown, n+1)}
			case "worker_class":
				class = v
			}
		}
	}
	fromArgs := func(args []string, source string) bool {
		for i := 0; i < len(args); i++ {
			for _, f := range []struct{ long, short, key string }{{"--workers", "-w", "workers"}, {"--threads", "", "threads"},
				{"--worker-connections", "", "worker_connections"}, {"--worker-class", "-k", "class"}} {
				v, n := flagValue(args, i, f.long, f.short)
				if n == 0 {
					continue
				}
				if f.key == "class" {
					class = v
				} else if x, err := strconv.ParseInt(v, 10, 64); err == nil {
					vals[f.key] = setAt{x, source}
				} else {
					return false
				}
				i += n - 1
			}
		}
		return true
	}
	if env, ok := p.env("GUNICORN_CMD_ARGS"); ok && !fromArgs(strings.Fields(env), "GUNICORN_CMD_ARGS") {
		return nil
	}
	if !fromArgs(args, "command line") {
		return nil
	}
	get := func(k string, def int64) setAt {
		if s, ok := vals[k]; ok {
			return s
		}
		return setAt{value: def}
	}
	workers := get("workers", gunicornDefaultWorkers)
	per, perName := get("threads", 1), "--threads"
	if async := !strings.HasSuffix(class, "sync") && !strings.HasSuffix(class, "gthread") && class != ""; async {
		per, perName = get("worker_connections", gunicornDefaultConns), "--worker-connections"
	}
	c := &model.ConnectionCap{Program: "gunicorn", Setting: "--workers", Value: workers.value * per.value, Source: workers.source,
		Default: workers.source == "" && per.source == ""}
	if per.value != 1 || per.source != "" {
		c.Detail = fmt.Sprintf("--workers %d × %s %d", workers.value, perName, per.value)
	}
	return c
}

// uwsgiCap is how many requests uWSGI's workers handle at once: processes
// (--processes, -p, --workers) × threads, as its options set them last.
func uwsgiCap(opts []uwsgiOption) *model.ConnectionCap {
	vals := map[string]setAt{}
	for _, o := range opts {
		if o.key != "processes" && o.key != "threads" {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(o.value), 10, 64); err == nil {
			vals[o.key] = setAt{n, o.source}
		}
	}
	procs, ok := vals["processes"]
	if !ok {
		procs = setAt{value: uwsgiDefaultProcesses}
	}
	c := &model.ConnectionCap{Program: "uWSGI", Setting: "--processes", Value: procs.value, Source: procs.source, Default: !ok}
	if th, ok := vals["threads"]; ok && th.value > 1 {
		c.Value *= th.value
		c.Default = false
		c.Detail = fmt.Sprintf("--processes %d × --threads %d", procs.value, th.value)
	}
	return c
}
