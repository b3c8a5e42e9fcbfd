package advise

import (
	"fmt"
	"math"

	"github.com/backlogctl/backlogctl/inspect"
)

// unlimited is RLIM_INFINITY as /proc/PID/limits reports it.
const unlimited = math.MaxUint64

// minNofile is the least soft limit recommended for a server: systemd's
// default hard limit since v240 is 524288; 65536 is a common server floor.
const minNofile = 65536

// ownerAtLimit finds an owner of l whose open descriptors reach its soft
// RLIMIT_NOFILE (within 1%, at least 2): its accept() fails with EMFILE.
func ownerAtLimit(l inspect.Listener) (inspect.Process, bool) {
	for _, p := range l.Processes {
		soft := p.NofileSoft
		if soft == 0 || soft == unlimited || p.OpenFDs <= 0 {
			continue
		}
		margin := max(2, soft/100)
		if uint64(p.OpenFDs)+margin >= soft {
			return p, true
		}
	}
	return inspect.Process{}, false
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
func (v *view) nofileFinding(l inspect.Listener, owner inspect.Process, p pressure) Finding {
	soft := owner.NofileSoft
	want := max(minNofile, nextPow2(int64(min(2*soft, math.MaxInt32))))
	if nr := v.nrOpen(); nr > 0 {
		want = min(want, nr) // a hard limit above fs.nr_open is refused (EPERM)
	}
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
	var fix string
	if unit := v.in.Units[owner.PID]; unit != "" {
		fix = fmt.Sprintf("`systemctl edit %s` and add \"[Service]\\nLimitNOFILE=%d\", then `systemctl restart %s`; until then `prlimit --pid %d --nofile=%d:%d` lets the running process accept again",
			unit, want, unit, owner.PID, want, want)
	} else {
		fix = fmt.Sprintf("`prlimit --pid %d --nofile=%d:%d` lets the running process accept again; make it permanent where %s is started (its service's LimitNOFILE=, or ulimit -n)",
			owner.PID, want, want, owner.Comm)
	}
	if owner.NofileHard != unlimited && uint64(want) > owner.NofileHard {
		fix += fmt.Sprintf("; a hard limit above the current %d needs root (CAP_SYS_RESOURCE)", owner.NofileHard)
	}
	return Finding{
		ID: "accept-queue-full-at-nofile", Severity: sev,
		Subject: PIDSubject(owner.PID), Listener: ListenerSubject(l.Address, l.Port),
		Current: int64p(int64(min(soft, math.MaxInt64))), Recommended: int64p(want),
		Reason: fmt.Sprintf("%s while %s[%d] has %d descriptors open of its RLIMIT_NOFILE soft limit %d: accept() fails with EMFILE and leaves the connection queued (net/socket.c reserves the descriptor first), so this is a descriptor problem, not a backlog one.%s",
			v.overflowText(l, p), owner.Comm, owner.PID, owner.OpenFDs, soft, v.note(p)),
		Fix:      fix,
		Evidence: ev,
	}
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
				Subject: PIDSubject(p.PID), Key: "fs.nr_open", Listener: ListenerSubject(l.Address, l.Port),
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
