package advise

import "fmt"

// syncookieFindings: tcp_syncookies 0 turns a SYN flood (or just a full SYN
// queue) into dropped legitimate SYNs; 2 sends cookies for every SYN.
func syncookieFindings(v *view) []Finding {
	mode, ok := v.sysctl("net.ipv4.tcp_syncookies")
	if !ok {
		return nil
	}
	switch mode {
	case 0:
		drops, _ := v.counter("TcpExtTCPReqQFullDrop")
		sev := Warning
		if v.sampled() && drops > 0 {
			sev = Critical
		}
		return []Finding{{
			ID: "syncookies-off", Severity: sev, Subject: "net.ipv4.tcp_syncookies", Key: "net.ipv4.tcp_syncookies",
			Current: int64p(0), Recommended: int64p(1),
			Reason: "with syncookies off, a SYN arriving at a full SYN queue is dropped (tcp_input.c tcp_conn_request, TcpExtTCPReqQFullDrop), so a SYN flood or a burst drops legitimate clients; with 1, cookies answer only when the queue overflows.",
			Fix:    "set net.ipv4.tcp_syncookies=1",
			Evidence: v.withInterval(map[string]float64{
				"tcp_syncookies":                      0,
				v.counterKey("TcpExtTCPReqQFullDrop"): float64(drops),
			}),
		}}
	case 2:
		cookies, _ := v.counter("TcpExtTCPReqQFullDoCookies")
		return []Finding{{
			ID: "syncookies-always", Severity: Warning, Subject: "net.ipv4.tcp_syncookies", Key: "net.ipv4.tcp_syncookies",
			Current: int64p(2), Recommended: int64p(1),
			Reason: "tcp_syncookies=2 answers every SYN with a cookie and keeps no request socket: window scaling, SACK and ECN survive only encoded in TCP timestamps, and TcpExtTCPReqQFullDoCookies counts every SYN, so it says nothing about overflow. Mode 1 sends cookies only when the SYN queue is full.",
			Fix:    "set net.ipv4.tcp_syncookies=1 unless cookies-always is deliberate",
			Evidence: v.withInterval(map[string]float64{
				"tcp_syncookies": 2,
				v.counterKey("TcpExtTCPReqQFullDoCookies"): float64(cookies),
			}),
		}}
	}
	return nil
}

// synBacklogFindings: tcp_max_syn_backlog matters only with syncookies off,
// where a SYN from an unproven peer is dropped once the SYN queue has less
// than a quarter of it left (tcp_input.c tcp_conn_request). With syncookies
// on it has no effect, so it is never recommended then.
func synBacklogFindings(v *view) []Finding {
	mode, ok := v.sysctl("net.ipv4.tcp_syncookies")
	msb, ok2 := v.sysctl("net.ipv4.tcp_max_syn_backlog")
	if !ok || !ok2 || mode != 0 {
		return nil
	}
	threshold := msb - msb>>2 // the queue length beyond which unproven SYNs drop
	var widest, deepest int64
	for _, l := range v.now.Listeners {
		widest = max(widest, int64(l.AcceptQueueMax)) // since 4.4 the SYN queue cap is the effective backlog
		deepest = max(deepest, int64(l.SynQueue))
	}
	if widest <= threshold {
		return nil
	}
	sev := Info
	if deepest > threshold {
		sev = Warning
	}
	want := nextPow2(widest + widest/3 + 1)
	reason := fmt.Sprintf("with syncookies off, a SYN from a peer not in the TCP metrics cache is dropped once a SYN queue holds more than %d (3/4 of tcp_max_syn_backlog %d), below the %d the widest listener's backlog allows.",
		threshold, msb, widest)
	if before44(v.now.Kernel) {
		reason += " On this kernel (before 4.4) the SYN queue itself is also sized from min(backlog, tcp_max_syn_backlog)."
	}
	return []Finding{{
		ID: "tcp-max-syn-backlog-below-backlog", Severity: sev,
		Subject: "net.ipv4.tcp_max_syn_backlog", Key: "net.ipv4.tcp_max_syn_backlog",
		Current: int64p(msb), Recommended: int64p(want),
		Reason: reason,
		Fix:    fmt.Sprintf("turn syncookies on (net.ipv4.tcp_syncookies=1), which makes tcp_max_syn_backlog irrelevant; if they must stay off, also raise net.ipv4.tcp_max_syn_backlog to %d", want),
		Evidence: map[string]float64{
			"tcp_max_syn_backlog": float64(msb), "tcp_syncookies": 0,
			"widest_backlog": float64(widest), "deepest_syn_queue": float64(deepest),
		},
	}}
}

// abortOnOverflowFindings: with tcp_abort_on_overflow=1 a full accept queue
// resets clients instead of letting their ACK be retried.
func abortOnOverflowFindings(v *view) []Finding {
	if val, ok := v.sysctl("net.ipv4.tcp_abort_on_overflow"); !ok || val == 0 {
		return nil
	}
	ovf, _ := v.counter("TcpExtListenOverflows")
	return []Finding{{
		ID: "abort-on-overflow-on", Severity: Warning,
		Subject: "net.ipv4.tcp_abort_on_overflow", Key: "net.ipv4.tcp_abort_on_overflow",
		Current: int64p(1), Recommended: int64p(0),
		Reason: "when the final ACK finds the accept queue full, 1 sends the client an RST (tcp_minisocks.c tcp_check_req): a short burst becomes failed connections, where 0 drops the ACK and the handshake completes on a retransmission once the server catches up.",
		Fix:    "set net.ipv4.tcp_abort_on_overflow=0, unless clients should fail fast rather than wait",
		Evidence: v.withInterval(map[string]float64{
			"tcp_abort_on_overflow":               1,
			v.counterKey("TcpExtListenOverflows"): float64(ovf),
		}),
	}}
}

// cookieCounterFindings: in mode 1, cookies sent because a SYN queue was
// full mean a listener's backlog is too small for its SYN rate.
func cookieCounterFindings(v *view) []Finding {
	mode, ok := v.sysctl("net.ipv4.tcp_syncookies")
	if !ok || mode == 0 || mode == 2 { // in mode 2 the counter counts every SYN
		return nil
	}
	n, ok := v.counter("TcpExtTCPReqQFullDoCookies")
	if !ok || n == 0 {
		return nil
	}
	sev, note := Warning, ""
	fix := "raise the backlog of the listener under SYN load (and somaxconn if it clamps it); leave net.ipv4.tcp_max_syn_backlog alone"
	if !v.sampled() {
		// A total is history: not a reason to raise anything.
		sev, note = Info, v.totalsNote()
		fix = "run `backlogctl advise --interval 10s`: if it still rises, the listener whose SYN queue fills needs a larger backlog (not net.ipv4.tcp_max_syn_backlog)"
	}
	reason := fmt.Sprintf("%d SYNs found a SYN queue full and were answered with a cookie instead of a request socket (tcp_conn_request). The SYN queue's cap is the listener's effective backlog min(backlog, somaxconn) (inet_csk_reqsk_queue_is_full), not tcp_max_syn_backlog, which has no effect with syncookies on.", n)
	if ovf, ok := v.counter("TcpExtListenOverflows"); ok && ovf > 0 {
		// A cookie's ACK that finds the accept queue full is dropped with
		// nothing kept (cookie_v4_check): that client waits.
		rose := fmt.Sprintf("rose too (%d)", ovf)
		if !v.sampled() {
			rose = fmt.Sprintf("counts %d too", ovf)
		}
		reason += fmt.Sprintf(" TcpExtListenOverflows %s: an accept queue was full as well, and a client whose cookie ACK finds it full is dropped with nothing kept on the server; it believes it is connected and waits until it sends data the queue has room for, or times out.", rose)
	} else {
		reason += " Those connections complete when the client's ACK returns the cookie, without window scaling or SACK unless TCP timestamps carry them."
	}
	return []Finding{{
		ID: "syn-queue-overflow-cookies", Severity: sev, Subject: "TcpExtTCPReqQFullDoCookies",
		Reason: reason + note,
		Fix:    fix,
		Evidence: v.withInterval(map[string]float64{
			v.counterKey("TcpExtTCPReqQFullDoCookies"): float64(n),
		}),
	}}
}
