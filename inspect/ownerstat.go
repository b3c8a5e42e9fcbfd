package inspect

import (
	"debug/buildinfo"
	"math"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/procfs"
)

// ownerStat reads an owner's scheduler state and start time from
// /proc/PID/stat: the judges need them to tell a stopped acceptor (T,
// SIGSTOP; D, uninterruptible sleep) from a slow one, and whether a
// listener's owner started before a sysctl changed. Zero values when the
// process is gone or the file is unreadable.
func ownerStat(pfs procfs.FS, pid int) (state string, start *time.Time) {
	p, err := pfs.Proc(pid)
	if err != nil {
		return "", nil
	}
	st, err := p.Stat()
	if err != nil {
		return "", nil
	}
	// starttime is in clock ticks since boot; procfs adds /proc/stat's btime.
	if secs, err := st.StartTime(); err == nil && secs > 0 {
		whole, frac := math.Modf(secs)
		t := time.Unix(int64(whole), int64(frac*1e9)).UTC()
		start = &t
	}
	return st.State, start
}

// ownerGoVersion returns the Go version an owner's executable was built
// with, or "" when it is not a Go program or cannot be read.
func ownerGoVersion(procRoot string, pid int) string {
	bi, err := buildinfo.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "exe"))
	if err != nil {
		return ""
	}
	return bi.GoVersion
}
