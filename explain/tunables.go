package explain

// tunableText explains the registry's keys beyond their one-line meaning;
// Name, Kind, Key, Aliases and Summary are filled in from the registry.
var tunableText = map[string]Topic{
	"net.core.somaxconn": {
		Text: []string{
			"The ceiling on listen()'s backlog. listen() clamps the backlog a program asks for to somaxconn (__sys_listen_socket); the result, the effective backlog, caps both the accept queue and the SYN queue of that listener.",
			"It is read only when listen() is called: raising it helps a listener only after the program listens again (restart or reload), and only if the program asked for more than the old value.",
			"Per network namespace: a new namespace (a container) starts at the compiled default 4096 (128 before Linux 5.4), not at the host's value. Up to Linux 6.1 net.core.* is hidden in namespaces owned by a non-initial user namespace (rootless containers).",
		},
		Counters: []string{"TcpExtListenOverflows", "TcpExtListenDrops", "TcpExtTCPReqQFullDoCookies", "TcpExtTCPReqQFullDrop"},
		Folklore: []string{"\"65535 is the maximum.\" Only on 3.x kernels; the range is 0 to INT_MAX."},
		SeeAlso:  []string{"backlog", "accept-queue", "syn-queue"},
	},
	"net.ipv4.tcp_max_syn_backlog": {
		Text: []string{
			"Despite its name, it does not size the SYN queue (not since Linux 4.4; the effective backlog does). It is read in one place only: with net.ipv4.tcp_syncookies=0, a SYN from a peer not in the tcp_metrics cache is dropped once less than a quarter of tcp_max_syn_backlog is left in the request queue (tcp_conn_request).",
			"With syncookies on (the default) it has no effect on which connections are admitted, so raising it alone does nothing.",
			"The default is max(128, ehash_entries/128), so it depends on the host's memory; a new network namespace starts from that default.",
		},
		Counters: []string{"TcpExtTCPReqQFullDrop", "TcpExtListenDrops"},
		Folklore: []string{"\"Raise tcp_max_syn_backlog to survive SYN floods.\" With syncookies on it changes nothing; syncookies are what absorb a flood."},
		SeeAlso:  []string{"syn-queue", "syncookies", "net.ipv4.tcp_syncookies"},
	},
	"net.ipv4.tcp_syncookies": {
		Text: []string{
			"0: never send syncookies; a full SYN queue drops SYNs (TcpExtTCPReqQFullDrop). 1, the default: send a cookie when the SYN queue is full (TcpExtTCPReqQFullDoCookies, TcpExtSyncookiesSent). 2: send a cookie for every SYN. Values 3 to 255 behave like 1.",
			"It decides whether net.ipv4.tcp_max_syn_backlog matters at all: only with 0. It does not help a full accept queue.",
			"Recommended: 1. With 0 a SYN flood turns into dropped legitimate SYNs.",
		},
		Counters: []string{"TcpExtTCPReqQFullDoCookies", "TcpExtTCPReqQFullDrop", "TcpExtSyncookiesSent", "TcpExtSyncookiesRecv", "TcpExtSyncookiesFailed"},
		Folklore: []string{"\"Syncookies break TCP options, turn them off.\" They are used only when the SYN queue is full (mode 1); the alternative then is dropping the SYN."},
		SeeAlso:  []string{"syncookies", "syn-queue"},
	},
	"net.ipv4.tcp_abort_on_overflow": {
		Text: []string{
			"What happens to a client whose final ACK arrives while the accept queue is full (tcp_check_req). 0, the default: the ACK is dropped, the request stays and the SYN-ACK is resent, so a burst is absorbed by retries. 1: the client gets a reset.",
			"Either way TcpExtListenOverflows counts the event. It does not affect SYNs arriving at a full accept queue: those are always dropped.",
			"Recommended: 0, unless clients must fail fast rather than wait.",
		},
		Counters: []string{"TcpExtListenOverflows"},
		SeeAlso:  []string{"accept-queue"},
	},
	"net.ipv4.tcp_synack_retries": {
		Text: []string{
			"How many times a SYN-ACK is resent for a half-open request before it is given up; with the default 5 and exponential backoff from 1 second, a request lives about 63 seconds.",
			"Lowering it frees SYN-queue slots sooner under a flood of unanswered SYNs, at the price of giving up sooner on slow or lossy clients. It also bounds how long a connection whose final ACK was dropped by a full accept queue (tcp_abort_on_overflow=0) can still get in.",
		},
		Counters: []string{"TcpExtTCPReqQFullDoCookies", "TcpExtTCPReqQFullDrop"},
		SeeAlso:  []string{"syn-queue", "accept-queue"},
	},
	"net.core.netdev_max_backlog": {
		Text: []string{
			"The length of each CPU's input packet queue, before TCP sees the packets. When it overflows packets are dropped before they reach any listener; the drops show in the second column of /proc/net/softnet_stat, not in the TCP counters.",
			"Global: absent inside a child network namespace.",
		},
		SeeAlso: []string{"counters"},
	},
	"fs.file-max": {
		Text: []string{
			"The host-wide number of open files; beyond it open() and accept() fail with ENFILE (callers with CAP_SYS_ADMIN may exceed it). fs.file-nr shows allocated, 0 and max.",
			"The default is computed from memory and is large on modern hosts; \"too many open files\" is almost always the per-process RLIMIT_NOFILE (EMFILE) instead.",
		},
		Counters: []string{"TcpExtListenOverflows"},
		SeeAlso:  []string{"descriptors", "fs.nr_open"},
	},
	"fs.nr_open": {
		Text: []string{
			"The ceiling for any process's RLIMIT_NOFILE hard limit: setting a higher hard limit (prlimit, setrlimit, systemd LimitNOFILE=) fails with EPERM even for root.",
			"Global; default 1048576; range 64 to 2147483584.",
		},
		SeeAlso: []string{"descriptors", "fs.file-max"},
	},
}
