package advise

import (
	"fmt"
	"strings"

	"github.com/backlogctl/backlogctl/model"
)

// unixQueueFullFinding judges what tracing saw of a Unix listener's full
// queue, which the kernel counts nowhere: the connect() calls it refused
// with EAGAIN (traced-connect-refused: every one an error at the client,
// nginx's "connect() to unix:... failed (11: Resource temporarily
// unavailable)" and a 502), or, without refusals, the blocking connects
// that waited for room (traced-connect-blocked), or the queue seen full
// (traced-queue-full). The fix is the program's own backlog setting
// (php-fpm listen.backlog, gunicorn --backlog, uWSGI --listen), or
// somaxconn where it clamped that, unless the owner stopped accepting.
func unixQueueFullFinding(v *view, l *model.Listener, subject string) (Finding, bool) {
	t := l.Traced
	backlog := l.AcceptQueueMax
	full := uint64(backlog) + 1
	blocked := t.ConnectBlocked
	if t.ConnectEAGAIN == 0 && blocked.Count == 0 && uint64(t.HighWater) < full {
		return Finding{}, false
	}
	f := Finding{Subject: subject, Evidence: map[string]float64{"high_water": float64(t.HighWater), "capacity": float64(full),
		"connect_eagain": float64(t.ConnectEAGAIN), "seconds": v.in.TraceSeconds}}
	if blocked.Count > 0 {
		f.Evidence["connect_blocked"], f.Evidence["connect_blocked_max_seconds"] = float64(blocked.Count), blocked.Max()
	}
	queue := fmt.Sprintf("its queue reached %d of backlog+1 = %d", t.HighWater, full)
	var reason []string
	switch {
	case t.ConnectEAGAIN > 0:
		f.ID, f.Severity = "traced-connect-refused", Critical
		reason = append(reason, fmt.Sprintf("connect() to it failed with EAGAIN %d times in %.1fs%s, because %s: the kernel counts these refusals nowhere; each is an error at the client (nginx logs \"connect() to unix:%s failed (11: Resource temporarily unavailable)\" and answers 502).",
			t.ConnectEAGAIN, v.in.TraceSeconds, refusers(t.ConnectRefusals), queue, l.Path))
		if blocked.Count > 0 {
			reason = append(reason, fmt.Sprintf("%d blocking connects waited for room too, up to %s.", blocked.Count, seconds(blocked.Max())))
		}
	case blocked.Count > 0:
		f.ID, f.Severity = "traced-connect-blocked", Warning
		reason = append(reason, fmt.Sprintf("%d blocking connect() calls to it waited for room in its full queue in %.1fs, up to %s each (%s): their clients stood still meanwhile.",
			blocked.Count, v.in.TraceSeconds, seconds(blocked.Max()), queue))
	default:
		f.ID, f.Severity = "traced-queue-full", Warning
		reason = append(reason, fmt.Sprintf("%s: a connect() arriving then was refused with EAGAIN (non-blocking) or made to wait.", capitalize(queue)))
	}
	if stall := v.stalled(t); stall > 0 {
		reason = append(reason, fmt.Sprintf("Its owner accepted nothing for %.1fs with %d waiting (traced-stall): the queue filled because nothing took from it, and a bigger backlog would only hold more connections nobody accepts.",
			stall, t.Stall.Queue))
		f.Reason, f.Fix = strings.Join(reason, " "), "make the program accept again (see traced-stall) before sizing the backlog"
		return f, true
	}
	want := nextPow2(2 * int64(full))
	if v.in.Sizing != nil {
		want = max(want, v.in.Sizing.Backlog())
	}
	f.Current, f.Recommended = int64p(int64(backlog)), int64p(want)
	owner := v.first(l)
	if somax, known := v.sysctl("net.core.somaxconn"); known && int64(backlog) >= somax {
		target := v.raisedSomaxconn(somax)
		f.Key, f.Current, f.Recommended = "net.core.somaxconn", int64p(somax), int64p(target)
		reason = append(reason, fmt.Sprintf("Its backlog %d is net.core.somaxconn's, which clamped what the program asked for.", backlog))
		f.Fix = fmt.Sprintf("set net.core.somaxconn=%d, then %s so it calls listen() again", target, restartText(owner, v.in.Units))
		if c := owner.ConfiguredBacklog; c != nil && c.Value >= 0 && c.Value < target {
			// Its own setting would clamp it again below the new somaxconn.
			f.Fix += fmt.Sprintf(", with its own setting raised too (%s): %s", configuredText(c), programFix(owner, target))
		}
	} else {
		if c := owner.ConfiguredBacklog; c != nil {
			reason = append(reason, fmt.Sprintf("Its backlog is the program's own: %s.", configuredText(c)))
		}
		f.Fix = programFix(owner, want)
	}
	f.Reason = strings.Join(reason, " ")
	return f, true
}

// refusers lists who was refused, most first: " (nginx[101] 30, nginx[102]
// 27)"; "" when nobody is named.
func refusers(rs []model.ConnectRefusal) string {
	if len(rs) == 0 {
		return ""
	}
	const most = 4
	parts := make([]string, 0, most+1)
	for i, r := range rs {
		if i == most {
			parts = append(parts, fmt.Sprintf("%d more processes", len(rs)-most))
			break
		}
		name := r.Comm
		if name == "" {
			name = "pid"
		}
		parts = append(parts, fmt.Sprintf("%s[%d] %d", name, r.PID, r.Count))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
