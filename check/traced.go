package check

import (
	"fmt"
	"math/big"
	"strings"
)

// TraceStatus says whether a window was traced and, if not, why.
type TraceStatus struct {
	Traced bool `json:"traced"`
	// Error is why tracing was not possible here.
	Error string `json:"error,omitempty"`
	// AcceptErrors are the failed accept() calls seen, by process and errno.
	AcceptErrors []ProcessAcceptErrors `json:"accept_errors,omitempty"`
	// Owners are the processes seen owning the traced listeners: each is
	// judged by process.accept_errors, with 0 when it had none.
	Owners []TracedOwner `json:"owners,omitempty"`
}

// TracedOwner is a listener owner seen while tracing.
type TracedOwner struct {
	PID  int    `json:"pid"`
	Comm string `json:"comm"`
}

// ProcessAcceptErrors counts one process's failed accept() calls with one errno.
type ProcessAcceptErrors struct {
	PID   int    `json:"pid"`
	Comm  string `json:"comm"`
	Errno string `json:"errno"`
	Count uint64 `json:"count"`
}

// TracedListener is one listener's exact evidence over the window.
type TracedListener struct {
	// AcceptWaitP99 and AcceptWaitMax are in seconds, from queue entry to
	// accept() returning; P99 is a log2 bucket's upper bound, Max exact.
	AcceptWaitP99 float64 `json:"accept_wait_p99"`
	AcceptWaitMax float64 `json:"accept_wait_max"`
	// HighWater is the longest accept queue; HighWaterFill is it over
	// backlog+1, what a full queue holds (1: it was full).
	HighWater     uint32  `json:"high_water"`
	HighWaterFill float64 `json:"high_water_fill"`
	// Overflows are connections dropped because the queue was full, at SYN
	// and final-ACK time.
	Overflows uint64 `json:"overflows"`
	// StalledSeconds is the longest time the queue held connections with
	// no accept(); Stalled is whether it reached the stall threshold.
	Stalled        bool    `json:"stalled"`
	StalledSeconds float64 `json:"stalled_seconds"`
}

// untraced says why a traced subject has no value.
func untraced(s Subject, obs *Observation) string {
	switch {
	case obs.Window == nil:
		return fmt.Sprintf("%s is measured over a traced window: give --observe", s.Name())
	case obs.Trace == nil:
		return fmt.Sprintf("%s needs the --observe window traced with eBPF", s.Name())
	case !obs.Trace.Traced:
		return fmt.Sprintf("%s needs eBPF tracing, unavailable here: %s", s.Name(), obs.Trace.Error)
	}
	return ""
}

// tracedListenerValue reads one traced listener field; ok is false when the
// listener was not traced (it came and went between reads).
func tracedListenerValue(field, where, target string, t *TracedListener) (value, bool) {
	if t == nil {
		return value{}, false
	}
	switch field {
	case "accept_wait_p99":
		return floatValue(where, target, t.AcceptWaitP99), true
	case "accept_wait_max":
		return floatValue(where, target, t.AcceptWaitMax), true
	case "high_water_fill":
		return floatValue(where, target, t.HighWaterFill), true
	case "overflows":
		return uintValue(where, target, t.Overflows), true
	case "stalled":
		v := int64(0)
		if t.Stalled {
			v = 1
		}
		return intValue(where, target, v), true
	}
	return value{}, false
}

// acceptErrorValues is process.accept_errors[.ERRNO]: each owner's failed
// accept() calls (of that errno) over the window, 0 for owners without any.
func acceptErrorValues(errno string, t *TraceStatus) []value {
	counts := map[int]uint64{}
	comms := map[int]string{}
	var order []int
	add := func(pid int, comm string) {
		if _, ok := comms[pid]; !ok {
			order = append(order, pid)
		}
		if comm != "" || comms[pid] == "" {
			comms[pid] = comm
		}
	}
	for _, o := range t.Owners {
		add(o.PID, o.Comm)
	}
	for _, e := range t.AcceptErrors {
		add(e.PID, e.Comm)
		if errno == "" || strings.EqualFold(e.Errno, errno) {
			counts[e.PID] += e.Count
		}
	}
	if len(order) == 0 {
		return []value{{"no owner accepted or failed during the window", "", new(big.Rat)}}
	}
	out := make([]value, 0, len(order))
	for _, pid := range order {
		out = append(out, uintValue(fmt.Sprintf("%s[%d]", comms[pid], pid), fmt.Sprintf("pid:%d", pid), counts[pid]))
	}
	return out
}

// tracedValues reads a traced subject's values over the window.
func tracedValues(s Subject, obs *Observation) ([]value, string) {
	if why := untraced(s, obs); why != "" {
		return nil, why
	}
	if s.Kind == KindProcess {
		return acceptErrorValues(s.Errno(), obs.Trace), ""
	}
	if why := noListener(obs); why != "" {
		return nil, why
	}
	var out []value
	for _, l := range obs.Listeners {
		if v, ok := tracedListenerValue(s.Field, listenerWhere(l), l.Endpoint, l.Traced); ok {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return nil, "no listener was seen by the trace"
	}
	return out, ""
}

// The kernel facts behind the traced subjects, for KernelReasons.
func init() {
	emfile := "accept() failed with EMFILE at the process's soft RLIMIT_NOFILE (__sys_accept4 reserves the descriptor first): the connection stays in the accept queue, which fills and overflows"
	for subject, why := range map[string]string{
		"listener.accept_wait_p99": "connections waited this long in the accept queue, from the final ACK to accept() returning (traced at sk_data_ready and accept's exit): " +
			"the application accepts too slowly; a longer backlog would only lengthen the wait",
		"listener.accept_wait_max":      "the longest wait in the accept queue before accept() returned the connection: the acceptor stalled at least this long",
		"listener.high_water_fill":      "the accept queue reached this share of backlog+1 (traced at every enqueue, sk_data_ready): at 1 it was full and handshakes were dropped (tcp_conn_request, tcp_check_req)",
		"listener.overflows":            "connections dropped because the accept queue was full: final ACKs (kfree_skb reason TCP_LISTEN_OVERFLOW, exact) and SYNs (tcp_conn_request, derived from the counters)",
		"listener.stalled":              "the accept queue held connections and no accept() took one for the --stall threshold or longer: the owner is stopped, blocked or overloaded",
		"process.accept_errors":         "accept()/accept4() returned errors (traced at the syscall's exit): EMFILE at RLIMIT_NOFILE, ENFILE at fs.file-max, ENOBUFS/ENOMEM under memory pressure; the connection stays queued",
		"process.accept_errors.EMFILE":  emfile,
		"process.accept_errors.ENFILE":  "accept() failed with ENFILE: the host reached fs.file-max (alloc_empty_file); connections stay in the accept queue",
		"process.accept_errors.ENOBUFS": "accept() failed with ENOBUFS: the kernel could not allocate the new socket (memory pressure)",
		"process.accept_errors.ENOMEM":  "accept() failed with ENOMEM: the kernel could not allocate the new socket (memory pressure)",
	} {
		subjectReasons[subject] = why
	}
}
