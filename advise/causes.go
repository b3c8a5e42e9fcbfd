package advise

import (
	"fmt"
	"strings"

	"github.com/backlogctl/backlogctl/model"
)

// dropCause is why a listener's drop count (sk_drops) rose. The count is not
// an overflow count: tcp_listendrop() adds to it for accept-queue overflows
// (twice for an overflowed final ACK: tcp_check_req, then tcp_v4_rcv's
// discard), SYN-queue drops and the 3/4 rule of tcp_max_syn_backlog, and
// tcp_v4_rcv adds the bare ACKs a TCP_DEFER_ACCEPT listener drops.
type dropCause int

const (
	// causeOverflow: the accept queue was full (ListenOverflows).
	causeOverflow dropCause = iota
	// causeSynQueue: the SYN queue was full with syncookies off (TCPReqQFullDrop).
	causeSynQueue
	// causeSynBacklog: with syncookies off, SYNs from unproven peers dropped
	// once the SYN queue passed 3/4 of tcp_max_syn_backlog (ListenDrops
	// beyond ListenOverflows and TCPReqQFullDrop).
	causeSynBacklog
	// causeDeferAccept: bare ACKs dropped by TCP_DEFER_ACCEPT (TCPDeferAcceptDrop).
	causeDeferAccept
	// causeMixed: several of the above rose; the counters are per namespace
	// and cannot say which drops were this listener's.
	causeMixed
	// causeUnknown: no counter explains the rise.
	causeUnknown
)

// dropCounters are the namespace's counter changes over the interval that
// a listener's drop count is attributed from.
type dropCounters struct {
	overflows, listenDrops, synQueue, deferAccept, other uint64
	// read is false when a counter was missing from a sample.
	read bool
}

// counterNames are the counters dropCounters reads, in evidence order.
var dropCounterNames = []string{"TcpExtListenOverflows", "TcpExtListenDrops", "TcpExtTCPReqQFullDrop", "TcpExtTCPDeferAcceptDrop"}

// dropCountersOf reads the counters' changes; only meaningful when sampled.
func (v *view) dropCountersOf() dropCounters {
	var d dropCounters
	var ok [4]bool
	d.overflows, ok[0] = v.counter("TcpExtListenOverflows")
	d.listenDrops, ok[1] = v.counter("TcpExtListenDrops")
	d.synQueue, ok[2] = v.counter("TcpExtTCPReqQFullDrop")
	d.deferAccept, ok[3] = v.counter("TcpExtTCPDeferAcceptDrop")
	d.read = ok[0] && ok[1] && ok[2] && ok[3]
	if d.listenDrops > d.overflows+d.synQueue {
		d.other = d.listenDrops - d.overflows - d.synQueue
	}
	return d
}

// causes lists the causes whose counters rose.
func (d dropCounters) causes(syncookiesOff bool) []dropCause {
	var out []dropCause
	if d.overflows > 0 {
		out = append(out, causeOverflow)
	}
	if d.synQueue > 0 {
		out = append(out, causeSynQueue)
	}
	if d.other > 0 && syncookiesOff {
		out = append(out, causeSynBacklog)
	}
	if d.deferAccept > 0 {
		out = append(out, causeDeferAccept)
	}
	return out
}

// attribution is a listener's drop cause with what else the counters saw.
type attribution struct {
	cause dropCause
	// others are causes that also rose during the interval (with causeOverflow).
	others   []dropCause
	counters dropCounters
}

// causeOf attributes a listener's active pressure. A queue full when
// sampled is an overflow now, whatever else happened; a rise over the
// interval is attributed from the namespace's counters.
func (v *view) causeOf(l model.Listener, p pressure) attribution {
	if p.full || !v.sampled() {
		return attribution{cause: causeOverflow}
	}
	d := v.dropCountersOf()
	a := attribution{cause: causeUnknown, counters: d}
	if !d.read {
		// Counters unreadable: keep the overflow reading when the queue was
		// full at the first sample, otherwise say we cannot tell.
		if p.fullBefore {
			a.cause = causeOverflow
		}
		return a
	}
	mode, _ := v.sysctl("net.ipv4.tcp_syncookies")
	cs := d.causes(mode == 0)
	switch {
	case len(cs) == 1:
		a.cause = cs[0]
	case len(cs) > 1 && (cs[0] == causeOverflow && p.fullBefore):
		a.cause, a.others = causeOverflow, cs[1:]
	case len(cs) > 1:
		a.cause, a.others = causeMixed, cs
	}
	return a
}

// name says a cause in a few words, with the counter that shows it.
func (c dropCause) name() string {
	switch c {
	case causeOverflow:
		return "accept-queue overflows (TcpExtListenOverflows)"
	case causeSynQueue:
		return "SYNs dropped at a full SYN queue with syncookies off (TcpExtTCPReqQFullDrop)"
	case causeSynBacklog:
		return "SYNs dropped by the 3/4 rule of tcp_max_syn_backlog with syncookies off (TcpExtListenDrops beyond ListenOverflows and TCPReqQFullDrop)"
	case causeDeferAccept:
		return "bare ACKs dropped by TCP_DEFER_ACCEPT (TcpExtTCPDeferAcceptDrop)"
	}
	return "an unknown cause"
}

func causeNames(cs []dropCause) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.name()
	}
	return strings.Join(parts, "; ")
}

// othersNote says what else rose while a listener overflowed, for a reason.
func (a attribution) othersNote(v *view) string {
	if len(a.others) == 0 {
		return ""
	}
	return fmt.Sprintf(" During the same %v the namespace also counted %s: part of this drop count may be those, and the counters (per namespace) cannot separate them.", v.in.Interval, causeNames(a.others))
}

// countersEvidence adds the namespace counters' changes to ev.
func (v *view) countersEvidence(ev map[string]float64) {
	for _, name := range dropCounterNames {
		if n, ok := v.counter(name); ok {
			ev[v.counterKey(name)] = float64(n)
		}
	}
}

// causeFinding judges drops that are not accept-queue overflows: a bigger
// backlog would not help, so none is recommended.
func (v *view) causeFinding(l model.Listener, p pressure, a attribution) Finding {
	ev := v.listenerEvidence(l, p)
	v.countersEvidence(ev)
	rose := fmt.Sprintf("its drop count rose by %d in %v and its accept queue was not full when sampled", p.drops, v.in.Interval)
	f := Finding{Subject: SubjectOf(l), Evidence: ev}
	d := a.counters
	switch a.cause {
	case causeDeferAccept:
		f.ID, f.Severity = "listener-drops-defer-accept", Info
		f.Reason = fmt.Sprintf("%s, while TcpExtTCPDeferAcceptDrop rose by %d and no overflow or SYN-queue counter did: a TCP_DEFER_ACCEPT listener drops a client's bare final ACK until data arrives (tcp_minisocks.c tcp_check_req) and keeps the request, so this is not an overflow and a bigger backlog would change nothing.", rose, d.deferAccept)
		f.Fix = "nothing to size; if clients of this port wait for the server to speak first, turn TCP_DEFER_ACCEPT off (nginx: drop `deferred` from `listen`)"
	case causeSynQueue:
		f.ID, f.Severity = "listener-drops-syn-queue-full", Warning
		f.Key, f.Current, f.Recommended = "net.ipv4.tcp_syncookies", v.sysctlp("net.ipv4.tcp_syncookies"), int64p(1)
		f.Reason = fmt.Sprintf("%s, while TcpExtTCPReqQFullDrop rose by %d and ListenOverflows did not: SYNs found the SYN queue full with syncookies off and were dropped (tcp_input.c tcp_conn_request). The accept queue was not the problem.", rose, d.synQueue)
		f.Fix = "set net.ipv4.tcp_syncookies=1 so a full SYN queue answers with cookies; if this is real load rather than a flood, also raise the listener's backlog (the SYN queue's cap)"
	case causeSynBacklog:
		f.ID, f.Severity = "listener-drops-syn-backlog", Warning
		f.Key, f.Current, f.Recommended = "net.ipv4.tcp_syncookies", v.sysctlp("net.ipv4.tcp_syncookies"), int64p(1)
		f.Reason = fmt.Sprintf("%s, while TcpExtListenDrops rose by %d more than ListenOverflows and TCPReqQFullDrop together: with syncookies off, SYNs from peers not in the TCP metrics cache are dropped once the SYN queue holds more than 3/4 of tcp_max_syn_backlog (tcp_input.c tcp_conn_request). A bigger accept queue would not help.", rose, d.other)
		f.Fix = "set net.ipv4.tcp_syncookies=1, which makes the 3/4 rule irrelevant; if they must stay off, raise net.ipv4.tcp_max_syn_backlog"
	case causeMixed:
		f.ID, f.Severity = "listener-drops-cause-unknown", Warning
		f.Reason = fmt.Sprintf("%s. During the interval the namespace counted %s. These counters are per namespace and this listener's drop count does not say which of them were its own, so the cause cannot be told apart from here.", rose, causeNames(a.others))
		f.Fix = "sample faster (backlogctl watch) or judge this listener alone (--port, with the others quiet); fix each cause the counters show: syncookies on for SYN-queue drops, a bigger backlog only for accept-queue overflows"
	default:
		f.ID, f.Severity = "listener-drops-cause-unknown", Info
		f.Reason = fmt.Sprintf("%s, and none of TcpExtListenOverflows, TcpExtTCPReqQFullDrop, TcpExtTCPDeferAcceptDrop rose (or they could not be read): the socket dropped packets for another reason (tcp_v4_rcv's discard paths: a socket filter, a bad checksum, no memory). This is not an overflow; a bigger backlog would change nothing.", rose)
		f.Fix = "look at the other TcpExt counters over an interval (nstat) to find the discard reason"
	}
	return f
}
