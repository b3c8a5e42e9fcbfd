package advise

import (
	"fmt"

	"github.com/backlogctl/backlogctl/model"
)

// capFindings: a listener whose owner holds as many connections as its
// own configuration allows (model.ConnectionCap). A program that stops
// accepting at its cap (HAProxy maxconn, memcached -c, gunicorn's and
// uWSGI's busy workers) leaves new connections in the accept queue, where
// they wait for one of its connections to close, and overflow: the cap is
// the cause, and a bigger backlog would only hold more of them. One that
// accepts and refuses (PostgreSQL) turns them away.
func capFindings(v *view) []Finding {
	var out []Finding
	for _, l := range v.now.Listeners {
		c := l.ConnectionCap
		if c == nil || c.Held == nil || int64(*c.Held) < c.Value {
			continue
		}
		p := v.pressureOf(l)
		held := *c.Held
		f := Finding{ID: "owner-at-connection-cap", Subject: SubjectOf(l), Severity: Warning,
			Current: int64p(c.Value),
			Evidence: v.withInterval(map[string]float64{"connections": float64(held), "cap": float64(c.Value),
				"accept_queue": float64(l.AcceptQueue), "backlog": float64(l.AcceptQueueMax)})}
		at := fmt.Sprintf("%s holds %d connections on %s, as many as its %s %d allows%s", ownerOrProgram(l.Processes, c.Program), held, SubjectOf(l), c.Setting, c.Value, capSource(c))
		switch {
		case c.Refuses:
			f.Evidence["refuses"] = 1
			f.Reason = at + ": it accepts each new connection and " + refuses(c.Program) + ", so clients fail rather than wait; the accept queue is not the limit."
		case l.AcceptQueue > 0:
			f.Reason = fmt.Sprintf("%s: at its cap it stops accepting, so %d wait in its accept queue (backlog %d) until one of its connections closes", at, l.AcceptQueue, l.AcceptQueueMax)
			if p.full {
				f.Severity = Critical
				f.Reason += ", and the queue is full: the rest overflow"
			}
			f.Reason += ". A bigger backlog would only hold more connections it will not take."
		default:
			f.Reason = at + ": at its cap it stops accepting, so the next connection waits in its accept queue until one of its connections closes."
		}
		f.Fix = capFix(c)
		out = append(out, f)
	}
	return out
}

// refuses says what a program that refuses beyond its cap does.
func refuses(program string) string {
	switch program {
	case "PostgreSQL":
		return "refuses it itself (\"sorry, too many clients already\")"
	case "nginx":
		return "closes it at once (its error log says \"worker_connections are not enough\")"
	}
	return "refuses it itself"
}

// ownerOrProgram names the owner, or the program when none is known.
func ownerOrProgram(ps []model.Process, program string) string {
	if len(ps) == 0 {
		return program
	}
	return program + " (" + ownerList(ps) + ")"
}

// capSource says where the cap was read.
func capSource(c *model.ConnectionCap) string {
	s := ""
	switch {
	case c.Default:
		s = " (its default: not set in its configuration)"
	case c.Source == "command line":
		s = " (on its command line)"
	case c.Source != "":
		s = " (" + c.Source + ")"
	}
	if c.Detail != "" {
		s += ", " + c.Detail
	}
	return s
}

// capFix says how to give a capped program more room, by program.
func capFix(c *model.ConnectionCap) string {
	switch c.Program {
	case "HAProxy":
		return "if the host can hold more connections, raise `maxconn` (the global section's caps the process; a frontend's, or its defaults section's, caps the frontend) and reload HAProxy, which raises its own descriptor limit from it; otherwise find why its connections last (slow servers behind it: its stats' scur against slim, `timeout server`)"
	case "PostgreSQL":
		return "find what holds the connections (`SELECT state, count(*) FROM pg_stat_activity GROUP BY 1;` in a session) and put a pooler such as PgBouncer in front; raising max_connections costs memory for every backend and, beyond the cores, slows every query. " + pgReadSettings
	case "nginx":
		return "raise `worker_connections` in nginx.conf's events block (with worker_rlimit_nofile to match: each connection is a descriptor, two when proxied) and reload nginx, or add workers (worker_processes)"
	case "memcached":
		return "raise memcached's `-c` (its connection limit) and restart it, or find the clients that hold idle connections"
	case "gunicorn":
		return "raise gunicorn's `--workers` (or `--threads`): a worker busy with a request accepts nothing, so with all of them busy connections wait; or make the requests faster"
	case "uWSGI":
		return "raise uWSGI's `--processes` (or `--threads`): a busy worker accepts nothing, so with all of them busy connections wait; or make the requests faster"
	}
	return fmt.Sprintf("raise %s's %s, or find why its connections last", c.Program, c.Setting)
}
