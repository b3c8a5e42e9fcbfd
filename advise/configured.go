package advise

import (
	"fmt"

	"github.com/backlogctl/backlogctl/model"
)

// configuredText says what a program's running configuration sets, for a
// reason or a fix: "listen.backlog = 8 (/etc/php/8.2/fpm/pool.d/www.conf:5)".
func configuredText(c *model.ConfiguredBacklog) string {
	if c.Detail != "" {
		// A value made of several settings (PostgreSQL's 2 × MaxBackends).
		where := ""
		if c.Source != "" {
			where = " (read at " + c.Source + ")"
		}
		return fmt.Sprintf("%s asks listen() for %s = %d, %s%s", c.Program, c.Setting, c.Value, c.Detail, where)
	}
	switch {
	case c.Default:
		return fmt.Sprintf("%s is not set, so %s uses its default %d", c.Setting, c.Program, c.Value)
	case c.Source == "command line":
		return fmt.Sprintf("%s's command line sets %s %d", c.Program, c.Setting, c.Value)
	}
	return fmt.Sprintf("%s sets %s = %d (%s)", c.Program, c.Setting, c.Value, c.Source)
}

// configuredEffective is the backlog listen() would give a program asking
// for c.Value under somaxconn (net/socket.c __sys_listen_socket: negative
// or larger values become somaxconn).
func configuredEffective(c *model.ConfiguredBacklog, somax int64) int64 {
	if c.Value < 0 || c.Value > somax {
		return somax
	}
	return c.Value
}

// configuredFindings: a listener whose backlog is not what its program's
// running configuration would give it now. The socket was made before the
// setting (or somaxconn) changed, and the program has not called listen()
// since: php-fpm keeps its sockets across a reload, gunicorn across SIGHUP.
func configuredFindings(v *view) []Finding {
	somax, known := v.sysctl("net.core.somaxconn")
	if !known {
		return nil
	}
	var out []Finding
	for _, l := range v.now.Listeners {
		c := l.ConfiguredBacklog
		if c == nil {
			continue
		}
		want := configuredEffective(c, somax)
		if want == int64(l.AcceptQueueMax) {
			continue
		}
		p := v.pressureOf(l)
		sev := Info
		if p.active(v.sampled()) && want > int64(l.AcceptQueueMax) {
			sev = Warning
		}
		clamp := ""
		if c.Value < 0 || c.Value > somax {
			clamp = fmt.Sprintf(", clamped to net.core.somaxconn %d", somax)
		}
		out = append(out, Finding{
			ID: "configured-backlog-not-applied", Severity: sev, Subject: SubjectOf(l),
			Current: int64p(int64(l.AcceptQueueMax)), Recommended: int64p(want),
			Reason: fmt.Sprintf("%s, which listen() would make %d%s, but the socket's backlog is %d: the socket was created before that setting (or net.core.somaxconn) changed, and the program has not called listen() on it since.",
				configuredText(c), want, clamp, l.AcceptQueueMax),
			Fix:      restartText(l, v.in.Units) + " to give the socket the configured backlog",
			Evidence: v.listenerEvidence(l, p),
		})
	}
	return out
}
