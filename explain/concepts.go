package explain

// SynQueueFullRule is the one sentence every topic uses for when the SYN
// queue is full, so explain never says two things about it.
const SynQueueFullRule = "The SYN queue is full when its length exceeds the listener's effective backlog, min(listen backlog, somaxconn): qlen > backlog since 6.12.10 and 6.1.125 (inet_csk_reqsk_queue_is_full); from 4.4 up to those releases it was full when the length reached the backlog (qlen >= backlog), so a backlog of 0 kept it always full. backlogctl judges by the running kernel's rule."

// concepts explain the mechanisms; facts follow the kernel sources named in
// each paragraph (see shared/KERNEL.md for the references).
var concepts = []Topic{
	{
		Name: "backlog", Kind: KindConcept, Aliases: []string{"listen", "effective-backlog"},
		Summary: "how listen()'s backlog and net.core.somaxconn give a listener its effective backlog",
		Text: []string{
			"A program passes a backlog to listen(). The kernel clamps it to net.core.somaxconn at that moment (__sys_listen_socket in net/socket.c): a negative backlog becomes somaxconn, 0 stays 0. The result is the listener's effective backlog (sk_max_ack_backlog), which ss(8) shows as Send-Q of a LISTEN socket and backlogctl inspect as accept_queue_max.",
			"The effective backlog caps both queues of the listener: the accept queue and, since Linux 4.4, the SYN queue.",
			"The clamp happens only when listen() is called. Raising somaxconn changes nothing for a socket that is already listening; the program has to call listen() again, which in practice means restarting or reloading it.",
			"Raising somaxconn helps only listeners whose effective backlog equals somaxconn, that is, those that were clamped. A listener that asked for less (nginx and Node.js default to 511) needs its own configuration changed; Go's net package asks for somaxconn itself.",
		},
		Counters: []string{"TcpExtListenOverflows", "TcpExtListenDrops"},
		Folklore: []string{
			"\"Raise somaxconn and the queue is bigger.\" Only for listeners that call listen() again afterwards, and only for those whose own backlog is larger than the old somaxconn.",
		},
		SeeAlso: []string{"accept-queue", "syn-queue", "net.core.somaxconn"},
	},
	{
		Name: "syn-queue", Kind: KindConcept, Aliases: []string{"syn", "request-queue", "half-open"},
		Summary: "half-open handshakes: what caps them, and what happens when they overflow",
		Text: []string{
			"When a SYN arrives at a listener the kernel creates a request socket (TCP_NEW_SYN_RECV) and answers with a SYN-ACK. The request waits for the client's final ACK; these half-open requests form the SYN queue. The SYN-ACK is resent up to net.ipv4.tcp_synack_retries times before the request is given up.",
			SynQueueFullRule + " Before Linux 4.4 the cap was a table sized from min(backlog, tcp_max_syn_backlog) rounded up to a power of two; that is where much of the folklore comes from.",
			"When the SYN queue is full (or always, with tcp_syncookies=2) the kernel in tcp_conn_request either sends a syncookie (syncookies on: TcpExtTCPReqQFullDoCookies and TcpExtSyncookiesSent go up) or drops the SYN (syncookies 0: TcpExtTCPReqQFullDrop goes up).",
			"With syncookies off there is one more rule, the only place net.ipv4.tcp_max_syn_backlog is read: a SYN from a peer not in the tcp_metrics cache is dropped once less than a quarter of tcp_max_syn_backlog is left in the request queue.",
			"There is no per-listener SYN-queue counter in the kernel. backlogctl counts the request sockets that sock_diag reports for each listener; a wildcard listener owns requests to any local address on its port, and an SO_REUSEPORT group shares its count. Handshakes answered with a cookie leave no request socket.",
		},
		Counters: []string{"TcpExtTCPReqQFullDoCookies", "TcpExtTCPReqQFullDrop", "TcpExtSyncookiesSent"},
		Folklore: []string{
			"\"The SYN queue is sized by tcp_max_syn_backlog.\" Not since Linux 4.4: the cap is the effective backlog. tcp_max_syn_backlog matters only with syncookies off, as a threshold for unknown peers.",
		},
		SeeAlso: []string{"backlog", "syncookies", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_synack_retries"},
	},
	{
		Name: "accept-queue", Kind: KindConcept, Aliases: []string{"accept", "listen-queue"},
		Summary: "completed handshakes waiting for accept(): what caps them, and what an overflow does",
		Text: []string{
			"A connection whose handshake is complete waits in the listener's accept queue until the program calls accept(). ss(8) shows its length as Recv-Q of a LISTEN socket, and the effective backlog as Send-Q.",
			"The queue is full when its length is greater than the effective backlog (sk_acceptq_is_full in include/net/sock.h): a full queue holds backlog+1 connections. backlogctl's fill is queue/(backlog+1), so 1 means full.",
			"A SYN arriving while the accept queue is full is dropped silently, cookies or not, and TcpExtListenOverflows goes up (tcp_conn_request).",
			"A final ACK arriving while the queue is full (tcp_check_req) also counts a ListenOverflow. With net.ipv4.tcp_abort_on_overflow=0, the default, the ACK is dropped and the request stays: the SYN-ACK is resent later and the client may get in on a later try. With 1 the client gets a reset.",
			"Every overflow also counts in TcpExtListenDrops and in the listener's own drop count (tcp_listendrop), which sock_diag reports per socket (ss -ltm shows it as d; backlogctl inspect as drops). An ACK dropped for overflow adds 2 to the listener's count and 1 to ListenDrops.",
			"A program that cannot accept() because it is out of descriptors (EMFILE, ENFILE) leaves the connection in the queue: descriptor exhaustion looks like a full accept queue with overflows, and an acceptor that spins.",
		},
		Counters: []string{"TcpExtListenOverflows", "TcpExtListenDrops"},
		Folklore: []string{
			"\"Set tcp_abort_on_overflow=1 to fix overflows.\" It turns a short burst that retries would have absorbed into connection resets the client sees; keep 0.",
			"\"A full accept queue means the backlog is too small.\" If the owner is at its RLIMIT_NOFILE, it is a descriptor problem; a bigger queue only holds more connections nobody can accept.",
		},
		SeeAlso: []string{"backlog", "descriptors", "net.ipv4.tcp_abort_on_overflow", "TcpExtListenOverflows"},
	},
	{
		Name: "syncookies", Kind: KindConcept, Aliases: []string{"syncookie", "cookies"},
		Summary: "stateless SYN-ACKs sent when the SYN queue is full, and the three modes",
		Text: []string{
			"A syncookie encodes the connection's parameters in the SYN-ACK's sequence number, so the kernel keeps no request socket; the client's ACK rebuilds the connection. Some TCP options are reduced, which is why cookies are a fallback and not the normal path.",
			"net.ipv4.tcp_syncookies: 0 never sends cookies, so a full SYN queue drops SYNs; 1 (the default) sends cookies only when the SYN queue is full; 2 sends a cookie for every SYN. Values 3 to 255 behave like 1.",
			"In mode 1, TcpExtTCPReqQFullDoCookies counts SYN-queue overflows answered with a cookie. In mode 2 it counts every SYN, so it says nothing about overflow.",
			"Cookies do not help a full accept queue: a SYN arriving then is dropped whatever the mode.",
		},
		Counters: []string{"TcpExtSyncookiesSent", "TcpExtSyncookiesRecv", "TcpExtSyncookiesFailed", "TcpExtTCPReqQFullDoCookies"},
		Folklore: []string{
			"\"Turn syncookies off for performance.\" With 0, a SYN flood or a burst drops legitimate SYNs instead of answering them; keep 1.",
		},
		SeeAlso: []string{"syn-queue", "net.ipv4.tcp_syncookies"},
	},
	{
		Name: "counters", Kind: KindConcept, Aliases: []string{"nstat", "netstat"},
		Summary: "the kernel counters that show connections being dropped at a listener",
		Text: []string{
			"The kernel counts drops host-wide (per network namespace) in /proc/net/netstat and /proc/net/snmp; nstat(8) names them by joining the line prefix and the field, as in TcpExtListenOverflows. They are cumulative since boot (or since the namespace was created): what matters is how fast they rise.",
			"- TcpExtListenOverflows: an accept queue was full (SYN or final ACK dropped).",
			"- TcpExtListenDrops: any drop at a listener; includes every ListenOverflow.",
			"- TcpExtTCPReqQFullDrop: a SYN dropped because the SYN queue was full and syncookies were off.",
			"- TcpExtTCPReqQFullDoCookies: a SYN answered with a cookie because the SYN queue was full (every SYN in mode 2).",
			"- TcpExtSyncookiesSent, TcpExtSyncookiesRecv, TcpExtSyncookiesFailed: cookies sent, valid cookies received, invalid cookies received.",
			"Per listener, sock_diag reports the socket's own drop count (since Linux 4.7), which is how backlogctl tells which listener the host-wide counters are about.",
			"ListenOverflows rising while the queue looks mostly empty between samples means short bursts: sample faster, or watch the per-listener drops.",
		},
		Counters: []string{"TcpExtListenOverflows", "TcpExtListenDrops", "TcpExtTCPReqQFullDrop", "TcpExtTCPReqQFullDoCookies", "TcpExtSyncookiesSent", "TcpExtSyncookiesRecv", "TcpExtSyncookiesFailed"},
		SeeAlso:  []string{"accept-queue", "syn-queue", "syncookies"},
	},
	{
		Name: "unix-sockets", Kind: KindConcept, Aliases: []string{"unix", "unix-socket", "af_unix", "unix-listeners"},
		Summary: "Unix-socket listeners (php-fpm, gunicorn, uWSGI, PgBouncer): one accept queue, no SYN queue, no counter",
		Text: []string{
			"A Unix stream or seqpacket listener (php-fpm's /run/php/php-fpm.sock, gunicorn or uWSGI behind a proxy, PgBouncer, PostgreSQL's local socket) has an accept queue like a TCP listener's: each connect() creates the server side of the connection at once and queues it on the listener (unix_stream_connect in net/unix/af_unix.c) until the program calls accept().",
			"Its limit is the same effective backlog: listen()'s backlog clamped to net.core.somaxconn when listen() is called (__sys_listen_socket), a negative backlog becoming somaxconn. somaxconn is that of the socket's network namespace. The queue is full when its length exceeds the backlog (unix_recvq_full), so a full queue holds backlog+1, as for TCP; ss -xl shows the length as Recv-Q and the backlog as Send-Q, and backlogctl inspect as accept_queue and accept_queue_max with family unix.",
			"There is no handshake, so there is no SYN queue, no syncookies, and none of the net.ipv4.tcp_* tunables applies. net.unix.max_dgram_qlen is for datagram sockets: listen() replaces it with the backlog.",
			"A connect() to a full listener is refused with EAGAIN when the client's socket is non-blocking, which nginx logs as \"connect() to unix:/run/php/php-fpm.sock failed (11: Resource temporarily unavailable) while connecting to upstream\" and answers 502. A blocking connect() waits for room instead (up to the client's SO_SNDTIMEO): the client stalls with no error.",
			"No kernel counter counts either: nothing in /proc/net/netstat or /proc/net/snmp, and no per-socket drop count. The queue's length and backlog, read through sock_diag, are all the kernel shows. backlogctl trace (full mode) counts them with eBPF: each connect() that fails with EAGAIN, at the syscall's exit, given to the listener its address leads to (connect_eagain), and the blocking ones that slept before their connection was queued (connect_blocked_seconds); watch --trace, the exporter and check's listener.connect_eagain read the same.",
			"The path is a file, but the socket belongs to the network namespace of the process that created it: a namespace's sock_diag lists its own Unix listeners, wherever their files are. Abstract names (written @name) exist per network namespace, with no file at all.",
			"As for TCP, raising somaxconn helps only listeners clamped by it, and only once the program calls listen() again (a restart). The programs' own settings: php-fpm listen.backlog (default 511; -1 means somaxconn), gunicorn --backlog (default 2048), uWSGI --listen (default 100, which it warns about at start: \"your server socket listen backlog is limited to 100 connections\"), PgBouncer listen_backlog (default 128).",
			"A program out of descriptors (EMFILE) leaves connections in the queue, as for TCP; so does a stalled acceptor, such as a php-fpm pool whose workers are all busy or a gunicorn sync worker stuck in a request.",
		},
		Folklore: []string{
			"\"A Unix socket has no backlog.\" It has listen()'s backlog, clamped by net.core.somaxconn, and refuses connections beyond it.",
			"\"php-fpm's status page shows the listen queue.\" Only for a pool on TCP: php-fpm reads listen queue, max listen queue and listen queue len with TCP_INFO, which a Unix socket does not have, so for a pool on a Unix socket they stay 0 (PHP 8.2).",
			"\"ListenOverflows counts refused Unix connections.\" It counts TCP only; a refused Unix connect() is counted nowhere in the kernel.",
		},
		SeeAlso: []string{"backlog", "accept-queue", "descriptors", "net.core.somaxconn"},
	},
	{
		Name: "descriptors", Kind: KindConcept, Aliases: []string{"fd", "fds", "rlimit", "nofile", "files"},
		Summary: "the descriptor limits accept() needs: RLIMIT_NOFILE, fs.nr_open, fs.file-max",
		Text: []string{
			"Every accepted connection is a file descriptor. accept() fails with EMFILE when the process is at its RLIMIT_NOFILE soft limit and with ENFILE when the host is at fs.file-max; either way the connection stays in the accept queue (net/socket.c reserves the descriptor before touching the queue).",
			"RLIMIT_NOFILE: the kernel starts processes at 1024 soft, 4096 hard; for services systemd's defaults and LimitNOFILE= usually decide it. /proc/PID/limits shows it; prlimit(1) changes it for a running process, which needs the same uid or CAP_SYS_RESOURCE, and CAP_SYS_RESOURCE to raise the hard limit.",
			"fs.nr_open (default 1048576) is the ceiling for any hard limit: asking for more fails with EPERM, even as root.",
			"fs.file-max is the host-wide number of open files; fs.file-nr shows how many are allocated against it.",
		},
		Counters: []string{"TcpExtListenOverflows"},
		Folklore: []string{
			"\"Raise fs.file-max to fix 'too many open files'.\" That message is almost always EMFILE, the process's RLIMIT_NOFILE; fs.file-max is the host-wide limit and ENFILE.",
		},
		SeeAlso: []string{"accept-queue", "fs.nr_open", "fs.file-max"},
	},
}
