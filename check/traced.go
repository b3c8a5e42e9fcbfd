package check

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/backlogctl/backlogctl/model"
)

// untraced says why a traced subject has no value.
func untraced(s Subject, obs *model.Observation) string {
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

// tracedListenerValue reads one traced listener field over an endpoint's
// traced sockets (an SO_REUSEPORT group's: their worst figure, their
// overflows summed); ok is false when none was traced (it came and went
// between reads).
func tracedListenerValue(field, where, target string, ts []model.Listener, stall *model.TraceStatus) (value, bool) {
	if len(ts) == 0 {
		return value{}, false
	}
	var p99, maxWait, oldest, fill float64
	var overflows, completed, eagain uint64
	stalled := false
	for i := range ts {
		t := ts[i].Traced
		p99 = max(p99, t.AcceptWait.Quantile(0.99))
		completed += t.AcceptWait.Count
		maxWait = max(maxWait, t.LongestWait())
		oldest = max(oldest, t.OldestQueuedMax.Seconds())
		fill = max(fill, t.Fill(ts[i].AcceptQueueMax))
		overflows += t.Overflows.Total()
		eagain += t.ConnectEAGAIN
		stalled = stalled || t.Stall.Held > 0 && t.Stall.Held >= stall.Stall
	}
	switch field {
	case "accept_wait_p99":
		if completed == 0 && oldest > 0 {
			// No accept completed, yet connections waited: their waits,
			// still running, are at least the oldest one's so far.
			return floatValue(where+" (no accept completed: the oldest queued connection's wait so far)", target, oldest), true
		}
		return floatValue(where, target, p99), true
	case "accept_wait_max":
		return floatValue(where, target, maxWait), true
	case "oldest_queued":
		return floatValue(where, target, oldest), true
	case "high_water_fill":
		return floatValue(where, target, fill), true
	case "overflows":
		return uintValue(where, target, overflows), true
	case "connect_eagain":
		return uintValue(where, target, eagain), true
	case "stalled":
		v := int64(0)
		if stalled {
			v = 1
		}
		return intValue(where, target, v), true
	}
	return value{}, false
}

// acceptErrorValues is process.accept_errors[.ERRNO]: each owner's failed
// accept() calls (of that errno) over the window, 0 for owners without any.
func acceptErrorValues(errno string, t *model.TraceStatus) []value {
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
func tracedValues(s Subject, obs *model.Observation) ([]value, string) {
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
		if v, ok := tracedListenerValue(s.Field, listenerWhere(l), l.Endpoint, l.Traced, obs.Trace); ok {
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
		"listener.accept_wait_max": "the longest wait in the accept queue, of a connection accept() returned or of one still waiting at a read of the trace: the acceptor stalled at least this long",
		"listener.oldest_queued":   "the longest any connection still in the accept queue had waited at a read of the trace (its enqueue time from sk_data_ready): a stall in progress, which no completed accept() has measured yet",
		"listener.high_water_fill": "the accept queue reached this share of backlog+1 (traced at every enqueue, sk_data_ready): at 1 it was full and handshakes were dropped (tcp_conn_request, tcp_check_req)",
		"listener.overflows":       "connections dropped because the accept queue was full: final ACKs (kfree_skb reason TCP_LISTEN_OVERFLOW, exact) and SYNs (tcp_conn_request, derived from the counters)",
		"listener.stalled":         "the accept queue held connections and no accept() took one for the --stall threshold or longer: the owner is stopped, blocked or overloaded",
		"listener.connect_eagain": "connect() to a Unix listener failed with EAGAIN because its queue was full (unix_stream_connect; traced at connect()'s exit, which no kernel counter records): " +
			"each is an error at the client, such as nginx's 502 with \"connect() to unix:... failed (11: Resource temporarily unavailable)\"",
		"process.accept_errors":         "accept()/accept4() returned errors (traced at the syscall's exit): EMFILE at RLIMIT_NOFILE, ENFILE at fs.file-max, ENOBUFS/ENOMEM under memory pressure; the connection stays queued",
		"process.accept_errors.EMFILE":  emfile,
		"process.accept_errors.ENFILE":  "accept() failed with ENFILE: the host reached fs.file-max (alloc_empty_file); connections stay in the accept queue",
		"process.accept_errors.ENOBUFS": "accept() failed with ENOBUFS: the kernel could not allocate the new socket (memory pressure)",
		"process.accept_errors.ENOMEM":  "accept() failed with ENOMEM: the kernel could not allocate the new socket (memory pressure)",
	} {
		subjectReasons[subject] = why
	}
}
