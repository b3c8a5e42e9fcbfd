package advise

import (
	"fmt"
	"math"
	"strings"

	"github.com/backlogctl/backlogctl/model"
)

// unlimited is RLIM_INFINITY as /proc/PID/limits reports it.
const unlimited = math.MaxUint64

// minNofile is the least soft limit recommended for a server: systemd's
// default hard limit since v240 is 524288; 65536 is a common server floor.
const minNofile = 65536

// ownerAtLimit finds an owner of l whose open descriptors reach its soft
// RLIMIT_NOFILE (within 1%, at least 2): its accept() fails with EMFILE.
func ownerAtLimit(l model.Listener) (model.Process, bool) {
	for _, p := range l.Processes {
		if nearNofile(p) {
			return p, true
		}
	}
	return model.Process{}, false
}

// nrOpen is fs.nr_open, the ceiling of any RLIMIT_NOFILE, or 0 when unknown.
func (v *view) nrOpen() int64 {
	if n, ok := v.sysctl("fs.nr_open"); ok {
		return n
	}
	if v.now.Files != nil {
		return v.now.Files.NrOpen
	}
	return 0
}

// nofileFinding: the queue is full because its owner cannot take another
// descriptor, so the fix is the limit, not the backlog.
func (v *view) nofileFinding(l model.Listener, owner model.Process, p pressure) Finding {
	soft := owner.NofileSoft
	want := v.nofileWant(soft)
	sev := Critical
	if !p.active(v.sampled()) {
		sev = Info
	}
	ev := v.listenerEvidence(l, p)
	ev["pid"] = float64(owner.PID)
	ev["open_fds"] = float64(owner.OpenFDs)
	ev["nofile_soft"] = float64(soft)
	if owner.NofileHard != unlimited {
		ev["nofile_hard"] = float64(owner.NofileHard)
	}
	if nr := v.nrOpen(); nr > 0 {
		ev["nr_open"] = float64(nr)
	}
	fix := v.nofileFix(l, owner, want)
	return Finding{
		ID: "accept-queue-full-at-nofile", Severity: sev,
		Subject: PIDSubject(owner.PID), Listener: SubjectOf(l),
		Current: int64p(int64(min(soft, math.MaxInt64))), Recommended: int64p(want),
		Reason: fmt.Sprintf("%s. Meanwhile %s[%d] %s: accept() fails with EMFILE and leaves the connection queued (net/socket.c reserves the descriptor first), so this is a descriptor problem, not a backlog one.%s",
			v.overflowText(l, p), owner.Comm, owner.PID, usesText(owner), v.note(p)),
		Fix:      fix,
		Evidence: ev,
	}
}

// usesText says how much of its soft RLIMIT_NOFILE p uses. Descriptors
// inherited above the limit stay open but do not count against it: the
// kernel checks the limit only when it allocates one (alloc_fd).
func usesText(p model.Process) string {
	used := p.OpenFDs - p.FDsAboveLimit
	if p.FDsAboveLimit > 0 {
		return fmt.Sprintf("uses %d descriptors of its RLIMIT_NOFILE soft limit %d (and holds %d more, inherited above the limit)", used, p.NofileSoft, p.FDsAboveLimit)
	}
	return fmt.Sprintf("uses %d descriptors of its RLIMIT_NOFILE soft limit %d", used, p.NofileSoft)
}

// nofileWant is the soft limit to recommend for an owner at its limit.
func (v *view) nofileWant(soft uint64) int64 {
	want := max(minNofile, nextPow2(int64(min(2*soft, math.MaxInt32))))
	if nr := v.nrOpen(); nr > 0 {
		want = min(want, nr) // a hard limit above fs.nr_open is refused (EPERM)
	}
	return want
}

// nofileFix says how to give owner more descriptors: `backlogctl rlimit set`
// on the process that holds the limit now, the program's own setting where
// it has one (nginx's workers take worker_rlimit_nofile; without it they
// inherit the master's limit), and the unit's LimitNOFILE= to make it last.
func (v *view) nofileFix(l model.Listener, owner model.Process, want int64) string {
	holders := []model.Process{owner}
	prog := recognise(l.Processes)
	nginx := prog != nil && prog.Name == "nginx" && len(l.Processes) > 1
	if nginx {
		// The master holds the limit new workers inherit; the workers accept.
		holders = l.Processes
	}
	cmds := make([]string, len(holders))
	for i, p := range holders {
		limit := fmt.Sprintf("%d:%d", want, want)
		if p.NofileHard == unlimited || uint64(want) <= p.NofileHard {
			limit = fmt.Sprint(want) // the hard limit already allows it
		}
		cmds[i] = fmt.Sprintf("`backlogctl rlimit set --pid %d --nofile %s`", p.PID, limit)
	}
	now := cmds[0] + " lets the running process accept again"
	if nginx {
		now = fmt.Sprintf("%s for the master (%s[%d], whose limit new workers inherit), then %s for the running workers",
			cmds[0], holders[0].Comm, holders[0].PID, strings.Join(cmds[1:], " and "))
	}
	var lasting string
	if unit := v.in.Units[owner.PID]; unit != "" {
		lasting = fmt.Sprintf("make it permanent with `backlogctl rlimit set --systemd-unit %s --nofile %d:%d --write`, then `systemctl daemon-reload && systemctl restart %s`", unit, want, want, unit)
	} else if owner.InPod() {
		// Kubernetes has no setting for it: a container starts with the
		// runtime's limits, which its program may raise up to the hard one.
		lasting = fmt.Sprintf("it lasts until container %s restarts: make it permanent in its image (`ulimit -n %d` in the entrypoint, or %s raising its own soft limit up to the hard one, which the container runtime sets)", owner.Ref(), want, owner.Comm)
	} else {
		lasting = fmt.Sprintf("make it permanent where %s is started (its service's LimitNOFILE=, or ulimit -n)", owner.Comm)
	}
	fix := now + "; " + lasting
	if prog != nil && prog.nofile != "" {
		fix += fmt.Sprintf("; %s: %s", prog.Name, strings.ReplaceAll(prog.nofile, "%s", fmt.Sprint(want)))
	}
	for _, p := range holders {
		if p.NofileHard != unlimited && uint64(want) > p.NofileHard {
			fix += "; raising a hard limit needs root (CAP_SYS_RESOURCE)"
			break
		}
	}
	return fix
}

// nofileLimitFindings: an owner at (or within a small margin of) its soft
// RLIMIT_NOFILE is a finding whatever its queue shows: accept() fails with
// EMFILE while the queue may be nearly empty (nginx at 64/64 logs
// "accept4() failed (24: Too many open files)" with a short queue).
// Owners already judged by accept-queue-full-at-nofile are skipped.
func nofileLimitFindings(v *view) []Finding {
	done := map[int]bool{}
	for _, f := range v.found {
		if f.ID == "accept-queue-full-at-nofile" {
			done[int(f.Evidence["pid"])] = true
		}
	}
	var out []Finding
	for _, l := range v.now.Listeners {
		for _, p := range l.Processes {
			if done[p.PID] || !nearNofile(p) {
				continue
			}
			done[p.PID] = true
			want := v.nofileWant(p.NofileSoft)
			sev, state := Warning, fmt.Sprintf("within %d of it", nofileMargin(p.NofileSoft))
			if uint64(p.OpenFDs-p.FDsAboveLimit) >= p.NofileSoft {
				sev, state = Critical, "at or above it: accept() fails with EMFILE now"
			}
			ev := map[string]float64{"pid": float64(p.PID), "open_fds": float64(p.OpenFDs), "nofile_soft": float64(p.NofileSoft), "fd_usage": p.FDUsage()}
			if p.NofileHard != unlimited {
				ev["nofile_hard"] = float64(p.NofileHard)
			}
			out = append(out, Finding{
				ID: "nofile-near-limit", Severity: sev,
				Subject: PIDSubject(p.PID), Listener: SubjectOf(l),
				Current: int64p(int64(min(p.NofileSoft, math.MaxInt64))), Recommended: int64p(want),
				Reason: fmt.Sprintf("%s[%d] %s, %s. accept() fails with EMFILE at the limit whatever the accept queue shows (the connection stays queued, net/socket.c reserves the descriptor first), so the queue may look short while clients wait.",
					p.Comm, p.PID, usesText(p), state),
				Fix:      v.nofileFix(l, p, want),
				Evidence: ev,
			})
		}
	}
	return out
}

// nofileMargin is how close to the soft limit counts as at it: the margin
// backlogctl rlimit's status uses.
func nofileMargin(soft uint64) uint64 { return model.NearMargin(soft) }

// nearNofile reports an owner whose open descriptors reach its soft limit
// within nofileMargin (rlimit's near or at-limit status).
func nearNofile(p model.Process) bool {
	if p.OpenFDs <= 0 {
		return false
	}
	st := model.UsageStatus(p.OpenFDs-p.FDsAboveLimit, p.NofileSoft)
	return st == model.StatusNear || st == model.StatusAtLimit
}

// nrOpenFindings: a process whose hard RLIMIT_NOFILE is above fs.nr_open
// got it before nr_open was lowered; setting it again (a restart) will fail.
func nrOpenFindings(v *view) []Finding {
	nr := v.nrOpen()
	if nr <= 0 {
		return nil
	}
	var out []Finding
	seen := map[int]bool{}
	for _, l := range v.now.Listeners {
		for _, p := range l.Processes {
			if seen[p.PID] || p.NofileHard == unlimited || p.NofileHard <= uint64(nr) {
				continue
			}
			seen[p.PID] = true
			want := int64(min(p.NofileHard, 2147483584)) // fs.nr_open's own maximum
			out = append(out, Finding{
				ID: "nofile-hard-above-nr-open", Severity: Warning,
				Subject: PIDSubject(p.PID), Key: "fs.nr_open", Listener: SubjectOf(l),
				Current: int64p(nr), Recommended: int64p(want),
				Reason: fmt.Sprintf("%s[%d] has a hard RLIMIT_NOFILE of %d, above fs.nr_open (%d): no process can be given that limit now (kernel/sys.c do_prlimit returns EPERM), so it was set before nr_open was lowered, and setting it again on restart will fail.",
					p.Comm, p.PID, p.NofileHard, nr),
				Fix:      fmt.Sprintf("raise fs.nr_open to %d, or lower the service's LimitNOFILE= to at most %d", want, nr),
				Evidence: map[string]float64{"pid": float64(p.PID), "nofile_hard": float64(p.NofileHard), "nr_open": float64(nr)},
			})
		}
	}
	return out
}
