package metrics

import "github.com/prometheus/client_golang/prometheus"

// Labels every listener metric carries. netns is the namespace's name, or
// "netns:[INODE]"; a TCP listener has address and port, a Unix one path
// (its socket file, or @abstract name) instead, the others empty (which
// Prometheus stores as absent); process is the owners' command names,
// comma-joined; pod, namespace and container name the owners' Kubernetes
// pod and container (empty outside one), so a listener keeps its series
// across its process's restarts in the same container, and a new one comes
// with a new pod: the series are bounded by the listeners on the node.
var listenerLabels = []string{"netns", "address", "port", "path", "process", "pod", "namespace", "container"}

// Labels of the listener owners' descriptor metrics: a process in a
// Kubernetes pod is labelled by its pod, namespace, container and command
// name, with pid "" (one series per container and command: the process of
// them nearest its limit); any other process by pid and command name.
var processLabels = []string{"pid", "process", "pod", "namespace", "container"}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("backlogctl_"+name, help, labels, nil)
}

var (
	descAcceptQueue = desc("listener_accept_queue",
		"Connections completed and waiting for accept() (sk_ack_backlog). Listeners sharing all labels (an SO_REUSEPORT group) are summed.",
		listenerLabels...)
	descBacklog = desc("listener_backlog",
		"Effective backlog: min(listen() backlog, somaxconn) when listen() was called (sk_max_ack_backlog); the accept queue is full at backlog+1.",
		listenerLabels...)
	descSynQueue = desc("listener_syn_queue",
		"Half-open request sockets (SYN queue) for the listener; an SO_REUSEPORT group shares one count.",
		listenerLabels...)
	descDrops = desc("listener_drops_total",
		"Connections the listener dropped (SK_MEMINFO_DROPS) since it was created; absent on kernels before 4.7. When every socket behind the series is replaced (a restart) and the count did not fall, each scraper is sent 0 once, so Prometheus counts a reset.",
		listenerLabels...)
	descReuseportMaxFill = desc("listener_reuseport_max_fill",
		"Fill (accept queue / (backlog+1)) of the fullest SO_REUSEPORT member summed into this series, present when it sums two or more: one member that stopped accepting is full while the sums look half empty.",
		listenerLabels...)
	descListeners = desc("listeners",
		"Listening sockets found in the network namespace, TCP and Unix.", "netns")
	descAggregated = desc("listeners_aggregated",
		"1 when there were more listeners than --max-listeners and listener metrics were summed per port or Unix path (address=\"*\", process=\"\"; beyond --max-listeners of them, port=\"other\"), else 0.")
	descSysctl = desc("sysctl",
		"Value of a kernel tunable that decides connection admission, as read in the network namespace.", "netns", "name")
	descFilesAllocated = desc("files_allocated",
		"File handles allocated system-wide (fs.file-nr, first field).")
	descFilesMax = desc("files_max",
		"System-wide limit on file handles (fs.file-max).")
	descNrOpen = desc("files_nr_open",
		"Ceiling for any process's RLIMIT_NOFILE (fs.nr_open).")
	descOpenFDs = desc("process_open_fds",
		"Open file descriptors of a process that owns a listener. In a Kubernetes pod, per container and command name (pid \"\"): the process nearest its limit.", processLabels...)
	descMaxFDs = desc("process_max_fds",
		"Soft RLIMIT_NOFILE of a process that owns a listener: accept() fails with EMFILE at this many descriptors. In a Kubernetes pod, per container and command name (pid \"\"): the process nearest its limit.", processLabels...)
	descScrapeDuration = desc("scrape_duration_seconds",
		"Time this scrape took to gather the listeners, tunables and counters.")
	descScrapeNotes = desc("scrape_skipped_namespaces",
		"Network namespaces skipped in this scrape (vanished, or could not be entered).")
)

// counterDescs maps each nstat counter backlogctl exports to its metric.
var counterDescs = []struct {
	nstat string
	desc  *prometheus.Desc
}{
	{"TcpExtListenOverflows", desc("tcp_listen_overflows_total",
		"SYNs or final ACKs dropped because an accept queue was full (TcpExtListenOverflows).", "netns")},
	{"TcpExtListenDrops", desc("tcp_listen_drops_total",
		"Drops at any listener, including every overflow (TcpExtListenDrops).", "netns")},
	{"TcpExtTCPReqQFullDrop", desc("tcp_syn_queue_full_drops_total",
		"SYNs dropped because the SYN queue was full and syncookies were off (TcpExtTCPReqQFullDrop).", "netns")},
	{"TcpExtTCPReqQFullDoCookies", desc("tcp_syn_queue_full_cookies_total",
		"SYNs answered with a syncookie because the SYN queue was full; every SYN with tcp_syncookies=2 (TcpExtTCPReqQFullDoCookies).", "netns")},
	{"TcpExtSyncookiesSent", desc("tcp_syncookies_sent_total",
		"Syncookies sent (TcpExtSyncookiesSent).", "netns")},
	{"TcpExtSyncookiesRecv", desc("tcp_syncookies_received_total",
		"Valid syncookies received (TcpExtSyncookiesRecv).", "netns")},
	{"TcpExtSyncookiesFailed", desc("tcp_syncookies_failed_total",
		"Invalid syncookies received (TcpExtSyncookiesFailed).", "netns")},
}
