package advise

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/backlogctl/backlogctl/model"
)

// SlowAcceptWait is the p99 accept-queue wait above which the acceptor, not
// the backlog, is what makes clients wait: a longer queue only lengthens it.
const SlowAcceptWait = 100 * time.Millisecond

// measuredNote says which sizing inputs tracing measured.
func (v *view) measuredNote() string {
	if v.in.TraceSeconds == 0 || len(v.in.SizingMeasured) == 0 {
		return ""
	}
	note := fmt.Sprintf(" Measured by tracing over %.1fs: %s", v.in.TraceSeconds, strings.Join(v.in.SizingMeasured, " and "))
	if len(v.in.SizingMeasured) == 1 {
		note += "; the other was given"
	}
	return note + "."
}

// slow reports whether t's p99 accept wait says the acceptor is slow.
func slow(t *model.Traced) bool {
	return t.AcceptWait.Quantile(0.99) >= SlowAcceptWait.Seconds()
}

// stalled is how long t's queue was held with no accept() over the traced
// window, when that reached the stall threshold; 0 otherwise.
func (v *view) stalled(t *model.Traced) float64 {
	if t.Stall.Held > 0 && t.Stall.Held >= v.in.TraceStall {
		return t.Stall.Held.Seconds()
	}
	return 0
}

// Busiest is the traced listener of snap with the highest arrival rate
// over seconds, for sizing; false when nothing arrived anywhere.
func Busiest(snap *model.Snapshot, seconds float64) (*model.Listener, bool) {
	var best *model.Listener
	for i := range snap.Listeners {
		l := &snap.Listeners[i]
		t := l.Traced
		if t == nil || t.Enqueued+t.Overflows.Total() == 0 {
			continue
		}
		if best == nil || t.ArrivalRate(seconds) > best.Traced.ArrivalRate(seconds) {
			best = l
		}
	}
	return best, best != nil
}

// MeasureSizing fills what --rate and --accept-latency left out (rateSet,
// latencySet) from the busiest traced listener: its arrival rate, and its
// mean accept wait (Little's law's W). Nothing is measured when nothing
// arrived, and the wait is not measured when nothing was accepted or the
// listener stalled (its waits then say how long nobody accepted, not how
// long accepting takes).
func MeasureSizing(in *Input, rate float64, rateSet bool, latency time.Duration, latencySet bool) {
	if in.TraceSeconds == 0 || in.Now.Snapshot == nil {
		return
	}
	busiest, ok := Busiest(in.Now.Snapshot, in.TraceSeconds)
	if !ok {
		return
	}
	t := busiest.Traced
	v := &view{in: *in}
	if !latencySet && (t.AcceptWait.Count == 0 || v.stalled(t) > 0) {
		return
	}
	s := Sizing{Rate: rate, AcceptLatency: latency}
	var measured []string
	if !rateSet {
		s.Rate = t.ArrivalRate(in.TraceSeconds)
		measured = append(measured, fmt.Sprintf("rate (%s)", SubjectOf(*busiest)))
	}
	if !latencySet {
		if s.AcceptLatency = t.AcceptWait.Mean(); s.AcceptLatency <= 0 {
			s.AcceptLatency = time.Nanosecond // accepted within the clock's resolution
		}
		measured = append(measured, "accept_latency (mean wait)")
	}
	if len(measured) > 0 && s.Validate() == nil {
		in.Sizing, in.SizingMeasured = &s, measured
	}
}

// tracedFindings judge the traced evidence: accept() errors, overflows with
// the exact high water, stalls with the owner's state, slow acceptors.
func tracedFindings(v *view) []Finding {
	if v.in.TraceSeconds == 0 {
		return nil
	}
	var out []Finding
	for i := range v.now.Listeners {
		l := &v.now.Listeners[i]
		t := l.Traced
		if t == nil {
			continue
		}
		subject := SubjectOf(*l)
		out = append(out, acceptErrorFindings(v, l, subject)...)
		if l.IsUnix() {
			if f, ok := unixQueueFullFinding(v, l, subject); ok {
				out = append(out, f)
			}
		} else if f, ok := tracedOverflowFinding(v, l, subject); ok {
			out = append(out, f)
		}
		if v.stalled(t) > 0 {
			out = append(out, stallFinding(v, l, subject))
		}
		if slow(t) && t.Overflows.Total() == 0 && t.ConnectEAGAIN == 0 {
			p99, mx := t.AcceptWait.Quantile(0.99), t.AcceptWait.Max()
			out = append(out, Finding{
				ID: "traced-slow-acceptor", Severity: Warning, Subject: subject,
				Reason: fmt.Sprintf("p99 accept wait %s (max %s, %d accepted): the acceptor is slow, not the backlog; a longer queue would only make clients wait longer.",
					seconds(p99), seconds(mx), t.AcceptWait.Count),
				Fix:      "find why the program is slow to call accept() (busy or blocked event loop, too few workers or threads)",
				Evidence: map[string]float64{"accept_wait_p99_seconds": p99, "accept_wait_max_seconds": mx, "accepted": float64(t.AcceptWait.Count)},
			})
		}
	}
	return out
}

// acceptErrorFindings: one finding per errno at l, naming every process
// that got it, critical for the descriptor and memory errors that leave
// connections in the queue. Its subject is the process that failed most.
func acceptErrorFindings(v *view, l *model.Listener, subject string) []Finding {
	var errnos []string
	byErrno := map[string][]model.AcceptErrors{}
	for _, e := range l.Traced.AcceptErrors { // most first
		if _, ok := byErrno[e.Errno]; !ok {
			errnos = append(errnos, e.Errno)
		}
		byErrno[e.Errno] = append(byErrno[e.Errno], e)
	}
	var out []Finding
	for _, errno := range errnos {
		es := byErrno[errno]
		top := es[0]
		f := Finding{
			ID: "traced-accept-errors", Severity: Warning, Subject: PIDSubject(top.PID), Listener: subject,
			Evidence: map[string]float64{"count": 0, "seconds": v.in.TraceSeconds, "processes": float64(len(es))},
		}
		var who []string
		for _, e := range es {
			f.Evidence["count"] += float64(e.Count)
			who = append(who, fmt.Sprintf("%s[%d] got %s %d times", e.Comm, e.PID, e.Errno, e.Count))
		}
		did := fmt.Sprintf("%s in %.1fs, accepting on %s", strings.Join(who, ", "), v.in.TraceSeconds, subject)
		switch errno {
		case "EMFILE":
			f.Severity = Critical
			f.Reason = did + ": it is at its descriptor limit (RLIMIT_NOFILE), so it calls accept() and cannot take the connection, which stays in the queue (net/socket.c reserves the descriptor first). This is descriptor exhaustion, not a small backlog or an idle program."
			if len(es) > 1 {
				f.Reason = did + ": they are at their descriptor limit (RLIMIT_NOFILE), so they call accept() and cannot take the connection, which stays in the queue (net/socket.c reserves the descriptor first). This is descriptor exhaustion, not a small backlog or an idle program."
			}
			f.Fix = v.emfileFix(l, top)
			if owner, ok := ownerByPID(l.Processes, top.PID); ok {
				f.Current, f.Recommended = int64p(int64(min(owner.NofileSoft, math.MaxInt64))), int64p(v.nofileWant(owner.NofileSoft))
				f.Evidence["open_fds"], f.Evidence["nofile_soft"] = float64(owner.OpenFDs), float64(owner.NofileSoft)
			}
		case "ENFILE":
			f.Severity, f.Key, f.Current = Critical, "fs.file-max", v.sysctlp("fs.file-max")
			f.Reason = did + ": the host is out of file descriptors (fs.file-max), so accept() cannot take the connection, which stays in the queue."
			f.Fix = "raise fs.file-max, and find what holds the descriptors"
		case "ENOBUFS", "ENOMEM":
			f.Severity = Critical
			f.Reason = did + ": the kernel could not allocate the new socket (memory pressure)."
			f.Fix = "check memory pressure and the cgroup's memory limit"
		default:
			f.Reason = did + "."
		}
		out = append(out, f)
	}
	return out
}

// ownerByPID is the owner of a listener with this pid.
func ownerByPID(ps []model.Process, pid int) (model.Process, bool) {
	for _, p := range ps {
		if p.PID == pid {
			return p, true
		}
	}
	return model.Process{}, false
}

// emfileFix says how to give the process that got EMFILE more descriptors:
// the owner's own fix (its program's setting, its unit's LimitNOFILE=, the
// running process's limit) when it is one of l's owners, otherwise what
// its name and unit say.
func (v *view) emfileFix(l *model.Listener, e model.AcceptErrors) string {
	if owner, ok := ownerByPID(l.Processes, e.PID); ok {
		return v.nofileFix(*l, owner, v.nofileWant(owner.NofileSoft))
	}
	fix := "raise the process's RLIMIT_NOFILE (`backlogctl rlimit set --pid " + fmt.Sprint(e.PID) + " --nofile N` now; where it is started, ulimit -n or LimitNOFILE=, to make it last)"
	if unit := v.in.Units[e.PID]; unit != "" {
		fix = fmt.Sprintf("raise LimitNOFILE= for %s (a drop-in: systemctl edit %s), then restart it", unit, unit)
	}
	if prog := recognise([]model.Process{{Comm: e.Comm}}); prog != nil && prog.nofile != "" {
		fix += fmt.Sprintf("; %s: %s", prog.Name, strings.ReplaceAll(prog.nofile, "%s", "N"))
	}
	return fix
}

// fullText says how full the traced high water says the queue got, and
// when (at: ", first at 12:01:03.4", or ""). The kernel checks fullness
// (sk_acceptq_is_full: queue > backlog) without the listener's lock while
// handshakes complete on other CPUs, so a full queue can overshoot
// backlog+1 by up to the CPUs that passed the check at once.
func fullText(hw, full uint32, at string) string {
	switch {
	case hw > full:
		return fmt.Sprintf("the queue was full%s: it reached %d, %d past the %d a full queue holds (backlog+1), as handshakes completing on several CPUs at once each passed the kernel's unlocked full check (sk_acceptq_is_full)", at, hw, hw-full, full)
	case hw == full:
		return fmt.Sprintf("the queue was full%s: it reached %d of %d (backlog+1)", at, hw, full)
	}
	return fmt.Sprintf("the queue reached %d of %d (backlog+1) at most", hw, full)
}

// overflowCounts says how many overflowed at each site, and how that
// compares with the namespace's TcpExtListenOverflows over the same window.
func (v *view) overflowCounts(t *model.Traced) string {
	o := t.Overflows
	var sites []string
	for _, site := range []struct {
		n    uint64
		what string
	}{{o.AckTime, "at final-ACK time"}, {o.CookieAckTime, "at SYN-cookie ACKs"}, {o.SynTime, "at SYN time"}} {
		if site.n > 0 {
			sites = append(sites, fmt.Sprintf("%d %s", site.n, site.what))
		}
	}
	s := fmt.Sprintf("%s (%s", plural(o.Total(), "overflow"), strings.Join(sites, ", "))
	if n, ok := v.counter("TcpExtListenOverflows"); ok && v.sampled() {
		switch {
		case n == o.Total():
			s += fmt.Sprintf("; TcpExtListenOverflows rose by the same %d over the window", n)
		case n > o.Total():
			s += fmt.Sprintf("; TcpExtListenOverflows rose by %d over the window, the other %d at other listeners of this namespace", n, n-o.Total())
		}
	}
	return s + ")"
}

// plural is "1 overflow", "2 overflows".
func plural(n uint64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// cookieAckText says what became of clients whose cookie ACK overflowed.
const cookieAckText = " A client whose SYN was answered with a cookie believes it is connected once it has the SYN-ACK; when its ACK finds the queue full it is dropped and nothing on the server remembers the connection: the client waits until it sends data the queue has room for, or times out (it never hears from a server that speaks first)."

// tracedOverflowFinding: the queue filled, with the overflows at each site,
// and whether the backlog or the acceptor is to blame.
func tracedOverflowFinding(v *view, l *model.Listener, subject string) (Finding, bool) {
	t := l.Traced
	backlog := l.AcceptQueueMax
	full := backlog + 1
	if t.HighWater < full && t.Overflows.Total() == 0 {
		return Finding{}, false
	}
	at := ""
	if !t.HighWaterAt.IsZero() {
		at = ", first at " + t.HighWaterAt.Local().Format("15:04:05.0")
	}
	f := Finding{
		ID: "traced-queue-overflow", Severity: Warning, Subject: subject,
		Evidence: map[string]float64{"high_water": float64(t.HighWater), "capacity": float64(full),
			"overflows_syn_time": float64(t.Overflows.SynTime), "overflows_ack_time": float64(t.Overflows.AckTime),
			"overflows_cookie_ack_time": float64(t.Overflows.CookieAckTime), "accepted": float64(t.AcceptWait.Count)},
	}
	waits := "no accept() completed in the window"
	if t.AcceptWait.Count > 0 {
		p99 := t.AcceptWait.Quantile(0.99)
		f.Evidence["accept_wait_p99_seconds"] = p99
		waits = fmt.Sprintf("p99 accept wait %s over %d accepted", seconds(p99), t.AcceptWait.Count)
	}
	if t.OldestQueuedMax > 0 {
		f.Evidence["oldest_queued_seconds"] = t.OldestQueuedMax.Seconds()
	}
	f.Reason = fullText(t.HighWater, full, at)
	if t.Overflows.Total() > 0 {
		f.Severity = Critical
		f.Reason += "; " + v.overflowCounts(t)
	}
	f.Reason += "; " + waits + "."
	if t.Overflows.CookieAckTime > 0 {
		f.Reason += cookieAckText
	}
	if stall := v.stalled(t); stall > 0 {
		f.Reason += fmt.Sprintf(" Its owner accepted nothing for %.1fs with %d waiting (traced-stall): the queue overflowed because nothing took from it, and a bigger backlog would only hold more connections nobody accepts.",
			stall, t.Stall.Queue)
		f.Fix = "make the program accept again (see traced-stall) before sizing the backlog"
		return f, true
	}
	if slow(t) {
		f.Reason += " The acceptor is slow, not the backlog."
		f.Fix = "find why the program is slow to call accept(); a longer queue would only make clients wait longer"
		return f, true
	}
	want := v.raisedBacklog(int64(backlog))
	f.Current, f.Recommended = int64p(int64(backlog)), int64p(want)
	if somax, known := v.sysctl("net.core.somaxconn"); known && int64(backlog) >= somax {
		target := v.raisedSomaxconn(somax)
		f.Key, f.Current, f.Recommended = "net.core.somaxconn", int64p(somax), int64p(target)
		f.Fix = fmt.Sprintf("its backlog equals somaxconn: set net.core.somaxconn=%d, then restart the program so it calls listen() again", target)
		return f, true
	}
	somax, known := v.sysctl("net.core.somaxconn")
	f.Fix = programFix(v.first(l), want) + clampNote(somax, known, want)
	return f, true
}

// raisedBacklog is the backlog to recommend for a listener that
// overflowed with backlog: at least twice what filled (rounded up to a power
// of two) and the sized backlog, never less than it has.
func (v *view) raisedBacklog(backlog int64) int64 {
	want := nextPow2(2 * (backlog + 1))
	if v.in.Sizing != nil {
		want = max(want, v.in.Sizing.Backlog())
	}
	return min(max(want, backlog), maxBacklog)
}

func stallFinding(v *view, l *model.Listener, subject string) Finding {
	t := l.Traced
	who := "its owner"
	var states []string
	stall := v.stalled(t)
	if len(t.Stall.Owners) > 0 {
		names := make([]string, 0, len(t.Stall.Owners))
		for _, o := range t.Stall.Owners {
			names = append(names, fmt.Sprintf("%s[%d]", o.Comm, o.PID))
			if o.State != "" {
				states = append(states, o.State)
			}
		}
		who = strings.Join(names, ", ")
	}
	reason := fmt.Sprintf("%s accepted nothing for %.1fs with %d waiting", who, stall, t.Stall.Queue)
	if len(states) > 0 {
		reason += " (state during the stall: " + strings.Join(states, ", ") + ")"
	}
	ev := map[string]float64{"stall_seconds": stall, "waiting": float64(t.Stall.Queue)}
	if t.OldestQueuedMax > 0 {
		ev["oldest_queued_seconds"] = t.OldestQueuedMax.Seconds()
		reason += "; the oldest connection still queued had waited " + t.OldestQueuedText()
	}
	f := Finding{
		ID: "traced-stall", Severity: Critical, Subject: subject,
		Reason:   reason + ": clients wait for nothing, then time out.",
		Fix:      "find why the program stopped calling accept() (stopped, blocked, deadlocked or overloaded)",
		Evidence: ev,
	}
	var stopped []string
	for _, o := range t.Stall.Owners {
		if strings.HasPrefix(o.State, "T") || strings.HasPrefix(o.State, "t") {
			stopped = append(stopped, fmt.Sprint(o.PID))
		}
	}
	if len(stopped) > 0 {
		ev["owners_stopped"] = float64(len(stopped))
		f.Reason += " It was stopped (SIGSTOP, or a debugger): a stopped process runs no code, so accept() could not be called."
		f.Fix = fmt.Sprintf("resume it (`kill -CONT %s`) if it was stopped by mistake, or %s", strings.Join(stopped, " "), restartText(*l, v.in.Units))
		if now := runningAgain(l.Processes, t.Stall.Owners); now != "" {
			f.Reason += " " + now
			f.Fix = "find what stopped it (a debugger, a job-control SIGSTOP, an orchestrator pausing it): the stall ends when it is resumed, and comes back if it is stopped again"
		}
	}
	return f
}

// runningAgain says, when every owner stopped during the stall runs again
// now (/proc/PID/stat when the window ended), that it does: "" otherwise.
func runningAgain(now []model.Process, during []model.TracedOwner) string {
	var names []string
	for _, o := range during {
		if !strings.HasPrefix(o.State, "T") && !strings.HasPrefix(o.State, "t") {
			continue
		}
		p, ok := ownerByPID(now, o.PID)
		if !ok || p.State == "" || p.State == "T" || p.State == "t" {
			return ""
		}
		names = append(names, fmt.Sprintf("%s[%d] is %s now", p.Comm, p.PID, model.StateName(p.State)))
	}
	if len(names) == 0 {
		return ""
	}
	return "It runs again since (" + strings.Join(names, ", ") + "), so the stall is over unless it is stopped again."
}

// first is the first listener of the snapshot at l's address and port: an
// SO_REUSEPORT group's findings name the program fix of one member.
func (v *view) first(l *model.Listener) model.Listener {
	for _, o := range v.now.Listeners {
		if o.Address == l.Address && o.Port == l.Port && o.Path == l.Path {
			return o
		}
	}
	return *l
}

// seconds prints a wait in ms below a second.
func seconds(s float64) string {
	if s < 1 {
		return fmt.Sprintf("%.3g ms", s*1000)
	}
	return fmt.Sprintf("%.2f s", s)
}
