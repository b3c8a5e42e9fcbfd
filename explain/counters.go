package explain

// counters explain the kernel counters backlogctl reports, named as nstat(8)
// names them; the list matches model.CounterNames.
var counters = []Topic{
	{
		Name: "TcpExtListenOverflows", Kind: KindCounter, Aliases: []string{"ListenOverflows"},
		Summary: "SYN or final ACK dropped because an accept queue was full",
		Text: []string{
			"Counted in tcp_conn_request when a SYN arrives at a listener whose accept queue is full (the SYN is dropped, cookies or not), and in tcp_check_req when the final ACK arrives then (dropped, or answered with a reset if tcp_abort_on_overflow=1).",
			"Fix: find the listener (backlogctl inspect: fill near 1, drops rising), then make it accept faster, give it descriptors if it is at its RLIMIT_NOFILE, or raise its backlog (its own configuration, and somaxconn if it is clamped).",
		},
		SeeAlso: []string{"accept-queue", "TcpExtListenDrops", "net.core.somaxconn"},
	},
	{
		Name: "TcpExtListenDrops", Kind: KindCounter, Aliases: []string{"ListenDrops"},
		Summary: "any drop at a listener (includes every ListenOverflow)",
		Text: []string{
			"tcp_listendrop counts here and in the listener's own drop count. Every ListenOverflow is also a ListenDrop; the difference is drops for other reasons: SYNs dropped at a full SYN queue with syncookies off (TcpExtTCPReqQFullDrop), SYNs dropped by the 3/4 rule of tcp_max_syn_backlog with syncookies off, no memory for a request, a failed child socket.",
			"The listener's own drop count (sk_drops, inspect's DROPS) is not this counter: a final ACK dropped at a full accept queue adds 2 to it (tcp_check_req, then tcp_v4_rcv's discard) but 1 here, and a bare ACK a TCP_DEFER_ACCEPT listener drops (TcpExtTCPDeferAcceptDrop) adds 1 to it and nothing here. backlogctl advise attributes a listener's rise to its cause from these counters' change over the same interval.",
		},
		SeeAlso: []string{"TcpExtListenOverflows", "accept-queue"},
	},
	{
		Name: "TcpExtTCPReqQFullDrop", Kind: KindCounter, Aliases: []string{"TCPReqQFullDrop"},
		Summary: "SYN dropped: SYN queue full and syncookies off",
		Text: []string{
			"Counted when a SYN finds the SYN queue full and net.ipv4.tcp_syncookies is 0; the drop also counts in TcpExtListenDrops and the listener's own drop count. Any rise means legitimate clients are being turned away: turn syncookies on (1) or raise the listener's backlog.",
			SynQueueFullRule,
		},
		SeeAlso: []string{"syn-queue", "net.ipv4.tcp_syncookies"},
	},
	{
		Name: "TcpExtTCPReqQFullDoCookies", Kind: KindCounter, Aliases: []string{"TCPReqQFullDoCookies"},
		Summary: "SYN answered with a cookie because the SYN queue was full (every SYN in mode 2)",
		Text: []string{
			"With tcp_syncookies=1, counts SYNs that found the SYN queue full and were answered with a cookie instead of being dropped: a sign of a flood or of a backlog too small for the burst. With tcp_syncookies=2 every SYN is counted, so it says nothing about overflow.",
			SynQueueFullRule,
		},
		SeeAlso: []string{"syn-queue", "syncookies"},
	},
	{
		Name: "TcpExtSyncookiesSent", Kind: KindCounter, Aliases: []string{"SyncookiesSent"},
		Summary: "syncookies sent",
		Text:    []string{"SYN-ACKs sent with a cookie instead of a request socket."},
		SeeAlso: []string{"syncookies"},
	},
	{
		Name: "TcpExtSyncookiesRecv", Kind: KindCounter, Aliases: []string{"SyncookiesRecv"},
		Summary: "valid syncookies received",
		Text:    []string{"ACKs carrying a valid cookie: connections established through the cookie path."},
		SeeAlso: []string{"syncookies"},
	},
	{
		Name: "TcpExtSyncookiesFailed", Kind: KindCounter, Aliases: []string{"SyncookiesFailed"},
		Summary: "invalid syncookies received",
		Text:    []string{"ACKs that looked like cookie answers but did not validate: late ACKs after the cookie expired, or forged traffic."},
		SeeAlso: []string{"syncookies"},
	},
}
