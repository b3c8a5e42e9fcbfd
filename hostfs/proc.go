package hostfs

import (
	"debug/buildinfo"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/procfs"
)

// The one reader of each /proc/PID file a process is known by; the owner
// walk, rlimit and tracing all read through these.

// Comm is the process's command name from /proc/PID/comm, as `ps -o comm`
// shows it. A missing process passes the not-exist error through.
func (r Roots) Comm(pid int) (string, error) {
	p, err := r.proc(pid)
	if err != nil {
		return "", err
	}
	return p.Comm()
}

// Cmdline is the process's command line from /proc/PID/cmdline, its
// arguments joined by spaces ("" for a kernel thread or a zombie).
func (r Roots) Cmdline(pid int) (string, error) {
	args, err := r.Args(pid)
	return strings.Join(args, " "), err
}

// Args is the process's command line from /proc/PID/cmdline, one string
// per argument.
func (r Roots) Args(pid int) ([]string, error) {
	p, err := r.proc(pid)
	if err != nil {
		return nil, err
	}
	return p.CmdLine()
}

// Environ is the process's environment from /proc/PID/environ, as it was
// when it started: "NAME=value" strings.
func (r Roots) Environ(pid int) ([]string, error) {
	p, err := r.proc(pid)
	if err != nil {
		return nil, err
	}
	return p.Environ()
}

// ProcStat is what backlogctl reads of /proc/PID/stat.
type ProcStat struct {
	// State is the scheduler state letter: R running, S sleeping, T
	// stopped (SIGSTOP), t traced, D uninterruptible sleep, Z zombie.
	State string
	// StartTime is when the process started (starttime after boot), nil
	// when the boot time is not known.
	StartTime *time.Time
	// RSSBytes is its resident memory.
	RSSBytes uint64
}

// userHZ is the kernel's USER_HZ, the unit of /proc/PID/stat starttime
// (100 on every architecture Linux exports it for).
const userHZ = 100

// Stat reads /proc/PID/stat.
func (r Roots) Stat(pid int) (ProcStat, error) {
	p, err := r.proc(pid)
	if err != nil {
		return ProcStat{}, err
	}
	return r.stat(p)
}

// SelfStat reads /proc/self/stat: this process's own.
func (r Roots) SelfStat() (ProcStat, error) {
	pfs, err := r.procFS()
	if err != nil {
		return ProcStat{}, err
	}
	p, err := pfs.Self()
	if err != nil {
		return ProcStat{}, err
	}
	return r.stat(p)
}

func (r Roots) stat(p procfs.Proc) (ProcStat, error) {
	st, err := p.Stat()
	if err != nil {
		return ProcStat{}, err
	}
	out := ProcStat{State: st.State, RSSBytes: uint64(st.ResidentMemory())}
	if boot, ok := r.bootTime(); ok && boot > 0 {
		t := time.Unix(int64(boot), 0).Add(time.Duration(st.Starttime) * time.Second / userHZ).UTC()
		out.StartTime = &t
	}
	return out, nil
}

// bootTimes caches /proc/stat's btime per proc root: it never changes while
// the host runs, and /proc/stat is long on a big machine (every CPU, every
// interrupt), so it is read once rather than per process.
var bootTimes sync.Map // procRoot -> uint64

func (r Roots) bootTime() (uint64, bool) {
	root := r.WithDefaults().Proc
	if v, ok := bootTimes.Load(root); ok {
		return v.(uint64), true
	}
	pfs, err := r.procFS()
	if err != nil {
		return 0, false
	}
	st, err := pfs.Stat()
	if err != nil {
		return 0, false
	}
	bootTimes.Store(root, st.BootTime)
	return st.BootTime, true
}

// GoVersion is the Go release the process's executable was built with,
// from its build information (/proc/PID/exe), or "" when it is not a Go
// program or cannot be read. It reads the executable (a few hundred
// microseconds), so callers ask for it only where they recognise programs.
func (r Roots) GoVersion(pid int) string {
	bi, err := buildinfo.ReadFile(filepath.Join(r.WithDefaults().Proc, strconv.Itoa(pid), "exe"))
	if err != nil {
		return ""
	}
	return bi.GoVersion
}

func (r Roots) proc(pid int) (procfs.Proc, error) {
	pfs, err := r.procFS()
	if err != nil {
		return procfs.Proc{}, err
	}
	return pfs.Proc(pid)
}
