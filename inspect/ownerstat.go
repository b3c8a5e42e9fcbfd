package inspect

import (
	"debug/buildinfo"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/procfs"

	"github.com/backlogctl/backlogctl/hostfs"
)

// userHZ is the kernel's USER_HZ, the unit of /proc/PID/stat starttime
// (100 on every architecture Linux exports it for).
const userHZ = 100

// bootTimes caches /proc/stat's btime per proc root: it never changes while
// the host runs, and /proc/stat is long on a big machine (every CPU, every
// interrupt), so it is read once rather than per owner.
var bootTimes sync.Map // procRoot -> uint64

func bootTime(pfs procfs.FS, procRoot string) (uint64, bool) {
	if v, ok := bootTimes.Load(procRoot); ok {
		return v.(uint64), true
	}
	st, err := pfs.Stat()
	if err != nil {
		return 0, false
	}
	bootTimes.Store(procRoot, st.BootTime)
	return st.BootTime, true
}

// OwnerStat reads a process's scheduler state and start time from
// /proc/PID/stat: advise needs them to tell a stopped acceptor (T, SIGSTOP;
// D, uninterruptible sleep) from a slow one, and whether a listener's owner
// started before a sysctl changed. It is not part of every owner scan
// (watch and the exporter do not need it). Zero values when the process is
// gone or the file is unreadable.
func OwnerStat(roots hostfs.Roots, pid int) (state string, start *time.Time) {
	procRoot := roots.WithDefaults().Proc
	pfs, err := procfs.NewFS(procRoot)
	if err != nil {
		return "", nil
	}
	p, err := pfs.Proc(pid)
	if err != nil {
		return "", nil
	}
	st, err := p.Stat()
	if err != nil {
		return "", nil
	}
	if boot, ok := bootTime(pfs, procRoot); ok && boot > 0 {
		t := time.Unix(int64(boot), 0).Add(time.Duration(st.Starttime) * time.Second / userHZ).UTC()
		start = &t
	}
	return st.State, start
}

// GoVersion returns the Go version the executable of process pid was built
// with, or "" when it is not a Go program or cannot be read. It reads the
// executable's build information (a few hundred microseconds), so it is not
// part of every owner scan: callers that recognise programs ask for it.
func GoVersion(roots hostfs.Roots, pid int) string {
	bi, err := buildinfo.ReadFile(filepath.Join(roots.WithDefaults().Proc, strconv.Itoa(pid), "exe"))
	if err != nil {
		return ""
	}
	return bi.GoVersion
}
