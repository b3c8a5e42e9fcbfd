package advise

import "fmt"

// overflowCounterFindings judges TcpExtListenOverflows for the host. With an
// interval, a rise that no listener in view accounts for (none full, none
// dropping) means bursts between samples or a listener out of view. Without
// one, the total since boot is info only.
func overflowCounterFindings(v *view) []Finding {
	n, ok := v.counter("TcpExtListenOverflows")
	if !ok || n == 0 {
		return nil
	}
	ev := v.withInterval(map[string]float64{v.counterKey("TcpExtListenOverflows"): float64(n)})
	if drops, ok := v.counter("TcpExtListenDrops"); ok {
		ev[v.counterKey("TcpExtListenDrops")] = float64(drops)
	}
	if !v.sampled() {
		return []Finding{{
			ID: "listen-overflows-since-boot", Severity: Info, Subject: "TcpExtListenOverflows",
			Reason:   fmt.Sprintf("%d SYNs or final ACKs were dropped at a full accept queue %s (tcp_input.c tcp_conn_request, tcp_minisocks.c tcp_check_req).%s", n, v.since(), v.totalsNote()),
			Fix:      "run `backlogctl advise --interval 10s` to see whether it is still rising and at which listener",
			Evidence: ev,
		}}
	}
	for _, l := range v.now.Listeners {
		if v.pressureOf(l).active(true) {
			return nil // the listener findings explain it
		}
	}
	return []Finding{{
		ID: "listen-overflows-in-bursts", Severity: Warning, Subject: "TcpExtListenOverflows",
		Reason:   fmt.Sprintf("ListenOverflows rose by %d in %v, yet no listener in view was full when sampled or counted drops: the accept queues overflow in bursts shorter than the interval, or the listener is outside --port.", n, v.in.Interval),
		Fix:      "sample faster (backlogctl watch) and look at each listener's own drop count (inspect's DROPS column)",
		Evidence: ev,
	}}
}

// minNetdevBacklog is the least netdev_max_backlog recommended after drops.
const minNetdevBacklog = 2048

// netdevFindings: drops in /proc/net/softnet_stat column 2 mean a CPU's input
// queue (net.core.netdev_max_backlog) overflowed (net/core/dev.c enqueue_to_backlog).
func netdevFindings(v *view) []Finding {
	n, ok := v.softnetDropped()
	if !ok || n == 0 {
		return nil
	}
	f := Finding{
		ID: "netdev-backlog-drops", Severity: Warning, Subject: "net.core.netdev_max_backlog",
		Key: "net.core.netdev_max_backlog", Current: v.sysctlp("net.core.netdev_max_backlog"),
		Reason:   fmt.Sprintf("%d packets were dropped because a CPU's input queue was full (net/core/dev.c enqueue_to_backlog; softnet_stat column 2), before any socket saw them.", n),
		Evidence: v.withInterval(map[string]float64{v.counterKey("softnet_dropped"): float64(n)}),
	}
	if !v.sampled() {
		f.Severity = Info
		f.Reason += " These are totals since boot (softnet_stat is host-wide): run with --interval to see whether it is still happening."
	}
	if f.Current != nil {
		want := max(minNetdevBacklog, nextPow2(2**f.Current))
		f.Recommended = int64p(want)
		f.Evidence["netdev_max_backlog"] = float64(*f.Current)
		f.Fix = fmt.Sprintf("raise net.core.netdev_max_backlog to %d (a global key); if drops continue, spread interrupts (RPS/RSS)", want)
		if !v.sampled() {
			f.Fix = fmt.Sprintf("run `backlogctl advise --interval 10s`: if the drops still rise, raise net.core.netdev_max_backlog to %d (a global key)", want)
		}
	} else {
		f.Fix = "net.core.netdev_max_backlog is global and not visible in this network namespace: raise it from the host"
	}
	return []Finding{f}
}
