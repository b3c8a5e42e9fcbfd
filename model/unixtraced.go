package model

import (
	"cmp"
	"slices"
)

// UnixTraced is what tracing sees of connect() calls to a Unix listener
// in full mode (syscalls:sys_enter_connect/sys_exit_connect): the refusals
// and waits the kernel keeps no count of. Zero for TCP listeners and in
// queue mode.
type UnixTraced struct {
	// ConnectEAGAIN is connect() calls that failed with EAGAIN because the
	// queue was full (unix_stream_connect, non-blocking or past
	// SO_SNDTIMEO): exact, counted at the syscall's exit by connecting
	// process and address, and given to the listener the address leads to.
	// ConnectRefusals are the same by process, most first.
	ConnectEAGAIN   uint64
	ConnectRefusals []ConnectRefusal
	// ConnectBlocked are blocking connect() calls that slept before their
	// connection was queued (unix_wait_for_peer: the queue was full), with
	// how long they took from connect()'s entry to the enqueue. Derived: a
	// connect that slept for another reason (memory reclaim, a path
	// lookup on a slow filesystem) is counted too.
	ConnectBlocked ConnectWait
}

// ConnectRefusal counts one process's connect() calls that a full Unix
// listener refused with EAGAIN.
type ConnectRefusal struct {
	PID   int    `json:"pid"`
	Comm  string `json:"comm,omitempty"`
	Count uint64 `json:"count"`
}

// ConnectWait counts connect() calls that slept, with their time in all
// and at most, in nanoseconds.
type ConnectWait struct {
	Count uint64
	SumNs uint64
	MaxNs uint64
}

// UnixSocketFile identifies a Unix socket's file: its device (as stat(2)
// gives st_dev) and inode.
type UnixSocketFile struct {
	Dev   uint64
	Inode uint64
}

// SocketFile is l's socket file, when it is a Unix listener bound to a path.
func (l *Listener) SocketFile() (UnixSocketFile, bool) {
	return UnixSocketFile{Dev: uint64(l.SocketFileDev), Inode: uint64(l.SocketFileInode)}, l.SocketFileInode != 0
}

// SortConnectRefusals orders refusals most first, then by pid.
func SortConnectRefusals(rs []ConnectRefusal) {
	slices.SortFunc(rs, func(a, b ConnectRefusal) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.PID, b.PID))
	})
}

// AddRefusal counts n refusals of process pid (comm) in u.
func (u *UnixTraced) AddRefusal(pid int, comm string, n uint64) {
	u.ConnectEAGAIN += n
	for i := range u.ConnectRefusals {
		if r := &u.ConnectRefusals[i]; r.PID == pid {
			r.Count += n
			r.Comm = cmp.Or(r.Comm, comm)
			return
		}
	}
	u.ConnectRefusals = append(u.ConnectRefusals, ConnectRefusal{PID: pid, Comm: comm, Count: n})
}

// since is what happened between prev and u. The refusals are counted in a
// bounded table that forgets the (process, address) refused longest ago,
// so a count that went down is taken as counted afresh (Delta).
func (u UnixTraced) since(prev *UnixTraced) UnixTraced {
	out := UnixTraced{ConnectEAGAIN: Delta(prev.ConnectEAGAIN, u.ConnectEAGAIN)}
	for _, r := range u.ConnectRefusals {
		before := uint64(0)
		for _, p := range prev.ConnectRefusals {
			if p.PID == r.PID {
				before = p.Count
			}
		}
		if r.Count = Delta(before, r.Count); r.Count > 0 {
			out.ConnectRefusals = append(out.ConnectRefusals, r)
		}
	}
	out.ConnectBlocked = ConnectWait{Count: Delta(prev.ConnectBlocked.Count, u.ConnectBlocked.Count),
		SumNs: Delta(prev.ConnectBlocked.SumNs, u.ConnectBlocked.SumNs), MaxNs: u.ConnectBlocked.MaxNs}
	return out
}

// Sum and Max are in seconds.
func (w ConnectWait) Sum() float64 { return float64(w.SumNs) / 1e9 }
func (w ConnectWait) Max() float64 { return float64(w.MaxNs) / 1e9 }

// UnixConnects is a Unix listener's UnixTraced as trace's JSON prints it.
type UnixConnects struct {
	ConnectEAGAIN   uint64           `json:"connect_eagain"`
	ConnectRefusals []ConnectRefusal `json:"connect_refusals"`
	// ConnectBlocked is in seconds.
	ConnectBlocked ConnectWaitSummary `json:"connect_blocked_seconds"`
}

// ConnectWaitSummary is a ConnectWait in seconds.
type ConnectWaitSummary struct {
	Count uint64  `json:"count"`
	Sum   float64 `json:"sum"`
	Max   float64 `json:"max"`
}

// unixConnects is t's UnixTraced as a report prints it, its lists never
// null.
func (t *Traced) unixConnects() *UnixConnects {
	u := t.UnixTraced
	return &UnixConnects{ConnectEAGAIN: u.ConnectEAGAIN, ConnectRefusals: append([]ConnectRefusal{}, u.ConnectRefusals...),
		ConnectBlocked: ConnectWaitSummary{Count: u.ConnectBlocked.Count, Sum: u.ConnectBlocked.Sum(), Max: u.ConnectBlocked.Max()}}
}
