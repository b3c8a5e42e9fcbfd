package check

import (
	"fmt"
	"strings"

	"github.com/backlogctl/backlogctl/model"
)

// KernelReasons explains a failure by what the kernel does with the value,
// naming the kernel function (see KERNEL.md in the project's notes).
type KernelReasons struct{}

// subjectReasons are the kernel facts behind each subject.
var subjectReasons = map[string]string{
	"net.core.somaxconn": "listen() clamps every backlog to net.core.somaxconn (__sys_listen_socket), which caps both the accept queue and the SYN queue; " +
		"a raised value reaches a listener only when it calls listen() again (restart it)",
	"net.ipv4.tcp_syncookies": "with 0, a full SYN queue drops SYNs (TcpExtTCPReqQFullDrop, tcp_conn_request) and a SYN flood drops legitimate clients; " +
		"1 sends cookies only when the SYN queue overflows, 2 always",
	"net.ipv4.tcp_abort_on_overflow": "with 1, a final ACK arriving at a full accept queue resets the client (tcp_check_req); " +
		"with 0 the ACK is dropped and the SYN-ACK retransmitted, so a short burst recovers",
	"net.ipv4.tcp_max_syn_backlog": "read only with syncookies off: SYNs from peers not in tcp_metrics are dropped once the SYN queue " +
		"has less than a quarter of it left (tcp_conn_request); the SYN queue itself is capped by the effective backlog",
	"net.ipv4.tcp_synack_retries": "SYN-ACK retransmissions before a half-open request is given up (reqsk_timer_handler)",
	"net.core.netdev_max_backlog": "the per-CPU input queue: packets beyond it are dropped before TCP sees them " +
		"(enqueue_to_backlog; /proc/net/softnet_stat column 2)",
	"fs.file-max": "past fs.file-max every process's accept() fails with ENFILE (alloc_empty_file) " +
		"and completed connections stay in the accept queue until it overflows",
	"fs.nr_open":                "no RLIMIT_NOFILE hard limit may exceed fs.nr_open (do_prlimit): raising descriptor limits stops here",
	"listener.accept_queue":     "the accept queue is full at backlog+1 (sk_acceptq_is_full); then SYNs and final ACKs are dropped and counted in TcpExtListenOverflows (tcp_conn_request, tcp_check_req)",
	"listener.fill":             "fill 1 means the accept queue holds backlog+1 and is full (sk_acceptq_is_full): new handshakes are dropped (tcp_conn_request, tcp_check_req); the application accepts too slowly, or cannot (descriptor limits)",
	"listener.accept_queue_max": "the effective backlog is min(listen() backlog, net.core.somaxconn) at listen() time (__sys_listen_socket): raise the application's backlog, or somaxconn if it was clamped, then restart it",
	"listener.drops": "the listener's own sk_drops is not an overflow count: it rises on accept-queue overflows (an overflowed final ACK counts 2, tcp_check_req), on SYNs dropped at a full SYN queue with syncookies off, " +
		"on SYNs dropped by the 3/4 rule of tcp_max_syn_backlog, and on bare ACKs a TCP_DEFER_ACCEPT listener drops (TcpExtTCPDeferAcceptDrop); " +
		"compare TcpExtListenOverflows, TcpExtTCPReqQFullDrop and TcpExtTCPDeferAcceptDrop over the same window to tell which (backlogctl advise --interval does)",
	"listener.syn_queue":  "half-open requests; the SYN queue is capped by the effective backlog (inet_csk_reqsk_queue_is_full), beyond it SYNs get cookies or, with syncookies off, are dropped",
	"process.nofile_soft": "accept() fails with EMFILE at the soft RLIMIT_NOFILE and leaves the connection in the accept queue (the descriptor is reserved first, __sys_accept4), so the queue fills and overflows",
	"process.nofile_hard": "the soft RLIMIT_NOFILE can be raised only up to the hard limit (do_prlimit), which itself is capped by fs.nr_open",
	"process.open_fds":    "every accepted connection needs a descriptor: at the soft RLIMIT_NOFILE accept() fails with EMFILE and connections pile up in the accept queue",
	"process.fd_usage":    "at the soft RLIMIT_NOFILE accept() fails with EMFILE and leaves the connection queued (__sys_accept4): the accept queue fills and overflows",
	"files.usage":         "past fs.file-max accept() fails with ENFILE for every process (alloc_empty_file); connections stay queued until the accept queues overflow",
	"files.allocated":     "file handles in use system-wide (fs.file-nr); past fs.file-max accept() fails with ENFILE (alloc_empty_file)",
	"files.max":           "past fs.file-max every process's accept() fails with ENFILE (alloc_empty_file)",
	"files.nr_open":       "no RLIMIT_NOFILE hard limit may exceed fs.nr_open (do_prlimit)",
	"counter.TcpExtListenOverflows": "a SYN or final ACK arrived while an accept queue was full and was dropped (tcp_conn_request, tcp_check_req): " +
		"a listener's backlog is too small or its owner accepts too slowly; see listener.drops for which",
	"counter.TcpExtListenDrops": "drops at a listener (tcp_listendrop), every ListenOverflow included; see listener.drops for which listener",
	"counter.TcpExtTCPReqQFullDrop": "SYNs dropped because a SYN queue was full with syncookies off (tcp_conn_request): " +
		"turn net.ipv4.tcp_syncookies on, or raise the listener's effective backlog",
	"counter.TcpExtTCPReqQFullDoCookies": "a SYN queue overflowed and SYNs were answered with cookies (tcp_conn_request); " +
		"in tcp_syncookies=2 mode it counts every SYN",
}

// Reason returns the kernel fact behind r's subject, and which listeners or
// processes failed.
func (KernelReasons) Reason(r Result, obs *model.Observation) string {
	why, ok := subjectReasons[r.Subject]
	if !ok {
		if name, ok := strings.CutPrefix(r.Subject, "counter."); ok {
			why = "kernel counter " + name
			if meaning, ok := model.KeyCounters[name]; ok {
				why += ": " + meaning
			}
		} else {
			why = r.Subject + " is outside the requirement"
		}
	}
	if r.Windowed {
		why = fmt.Sprintf("during the %v window: %s", obs.Window.Duration, why)
	} else if strings.HasPrefix(r.Subject, "counter.") {
		why += "; this is the total since " + since(obs) + ": --observe 60s judges its increase over a window instead"
	}
	return why
}

// since is when a namespace's counters started.
func since(obs *model.Observation) string {
	if obs.ChildNetns {
		return "this network namespace was created"
	}
	return "boot"
}

// LookupReasons explains a failure by a finding about the same thing, such
// as an advise finding, falling back to KernelReasons when there is none.
// Lookup receives Result.Target: a sysctl or counter name, a listener
// "127.0.0.1:80", a process "pid:4242", or "fs.file-max".
type LookupReasons struct {
	Lookup func(target string) (reason string, ok bool)
}

// Reason returns the looked-up reason, or the kernel fact.
func (l LookupReasons) Reason(r Result, obs *model.Observation) string {
	if l.Lookup != nil && r.Target != "" {
		if why, ok := l.Lookup(r.Target); ok {
			return why
		}
	}
	return KernelReasons{}.Reason(r, obs)
}
