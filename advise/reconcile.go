package advise

import (
	"fmt"
	"slices"
	"strings"

	"github.com/backlogctl/backlogctl/model"
)

// verdictRank orders the findings about one listener by how much of its
// story they explain, first to last: a stopped or stuck owner explains
// everything after it (nothing accepts, whatever the backlog); then
// descriptors the owner has run out of; then an owner at its own
// connection cap; then an owner that does not accept for a reason not
// known; a slow acceptor; a backlog that is not the one configured (the
// listener predates a change); the traced overflow, exact; and last the
// sampled guesses and the history. ok is false for a finding that is no
// verdict about a listener.
func verdictRank(f Finding) (rank int, ok bool) {
	switch f.ID {
	case "listener-not-accepting", "traced-stall":
		if f.Evidence["owners_stopped"] > 0 || f.Evidence["owners_blocked"] > 0 {
			return 0, true
		}
		return 3, true
	case "traced-accept-errors":
		if f.Severity == Critical {
			return 1, true // out of descriptors, or of memory
		}
		return 0, false
	case "accept-queue-full-at-nofile":
		return 1, true
	case "owner-at-connection-cap":
		if f.Evidence["refuses"] > 0 {
			return 8, true // it refuses beyond its cap: its queue is not why
		}
		return 2, true
	case "traced-slow-acceptor":
		return 4, true
	case "listener-predates-somaxconn-change", "configured-backlog-not-applied":
		return 5, true
	case "traced-queue-overflow", "traced-connect-refused", "traced-connect-blocked", "traced-queue-full":
		return 6, true
	case "somaxconn-clamps-listener", "listener-backlog-too-small", "syn-queue-full",
		"listener-drops-defer-accept", "listener-drops-syn-queue-full", "listener-drops-syn-backlog", "listener-drops-cause-unknown":
		return 7, true
	case "listener-below-sizing", "somaxconn-lowered-since-listen":
		return 8, true
	case "listener-drops-history":
		return 9, true
	}
	return 0, false
}

// foldsIntoDescriptors are the owner findings a descriptor verdict stands
// for: they say the same of the same process.
var foldsIntoDescriptors = []string{"nofile-near-limit", "accept-queue-full-at-nofile", "traced-accept-errors"}

// reconcile makes the findings about each listener one verdict: the one
// of highest verdictRank (traced evidence outranks what a sample guessed),
// at the worst severity among them, with their evidence merged and their
// ids in Folded. The namespace counters that a traced listener's evidence
// accounts for (its overflows, its SYN cookies) fold into its verdict
// too. Then no recommendation is left below the value it would change.
func reconcile(v *view, fs []Finding) []Finding {
	listeners := map[string]bool{}
	for _, l := range v.now.Listeners {
		listeners[SubjectOf(l)] = true
	}
	// The listener each finding is about, if any.
	about := func(f Finding) string {
		switch {
		case f.Listener != "":
			return f.Listener
		case listeners[f.Subject]:
			return f.Subject
		}
		return ""
	}
	verdicts := map[string]int{} // listener -> index in fs of its verdict
	for i, f := range fs {
		l := about(f)
		rank, ok := verdictRank(f)
		if l == "" || !ok {
			continue
		}
		j, seen := verdicts[l]
		if !seen {
			verdicts[l] = i
			continue
		}
		if r, _ := verdictRank(fs[j]); rank < r || rank == r && betterAtRank(f, fs[j]) {
			verdicts[l] = i
		}
	}
	folded := make([]bool, len(fs))
	for l, i := range verdicts {
		verdict := &fs[i]
		rank, _ := verdictRank(*verdict)
		overflowed, stalled, refused := false, false, false
		for j := range fs {
			f := fs[j]
			if j == i || folded[j] || about(f) != l {
				continue
			}
			if _, isVerdict := verdictRank(f); !isVerdict && !(rank == 1 && slices.Contains(foldsIntoDescriptors, f.ID)) {
				continue // another matter about its owner (nr_open, a stray errno)
			}
			fold(verdict, f)
			folded[j] = true
			overflowed = overflowed || f.ID == "traced-queue-overflow"
			stalled = stalled || f.ID == "traced-stall"
			refused = refused || f.ID == "traced-connect-refused"
		}
		if t := v.tracedAt(l); stalled && t != nil && verdict.ID != "traced-stall" {
			// What the folded stall finding said, in a sentence.
			verdict.Reason += fmt.Sprintf(" Its queue held %d with no accept() for %.1fs", t.Stall.Queue, t.Stall.Held.Seconds())
			if t.OldestQueuedMax > 0 {
				verdict.Reason += ", the oldest connection waiting " + t.OldestQueuedText()
			}
			verdict.Reason += "."
		}
		if t := v.tracedAt(l); refused && t != nil {
			// What the folded refusal finding said, in a sentence (unixtraced.go).
			verdict.Reason += fmt.Sprintf(" connect() to it failed with EAGAIN %d times while traced%s: its queue was full.", t.ConnectEAGAIN, refusers(t.ConnectRefusals))
		}
		if overflowed {
			// What the folded overflow finding said, in a sentence.
			if t := v.tracedAt(l); t != nil {
				verdict.Reason += " " + upper(fullText(t.HighWater, v.backlogAt(l)+1, ""))
				if t.Overflows.Total() > 0 {
					verdict.Reason += "; " + v.overflowCounts(t)
				}
				verdict.Reason += "."
			}
		}
	}
	foldCounters(v, fs, folded, verdicts)
	sizingAgrees(v, fs, verdicts)
	out := make([]Finding, 0, len(fs))
	for i, f := range fs {
		if !folded[i] {
			out = append(out, f)
		}
	}
	for i := range out {
		neverLower(&out[i])
	}
	return out
}

// betterAtRank reports whether f makes a better verdict than g of the same
// rank: the more severe, then the traced (exact) over the sampled.
func betterAtRank(f, g Finding) bool {
	if f.Severity.Rank() != g.Severity.Rank() {
		return f.Severity.Rank() > g.Severity.Rank()
	}
	return strings.HasPrefix(f.ID, "traced-") && !strings.HasPrefix(g.ID, "traced-")
}

// tracedAt is the traced evidence of the listener subject names, nil if
// none.
func (v *view) tracedAt(subject string) *model.Traced {
	for i := range v.now.Listeners {
		if l := &v.now.Listeners[i]; SubjectOf(*l) == subject {
			return l.Traced
		}
	}
	return nil
}

// backlogAt is the backlog of the listener subject names.
func (v *view) backlogAt(subject string) uint32 {
	for _, l := range v.now.Listeners {
		if SubjectOf(l) == subject {
			return l.AcceptQueueMax
		}
	}
	return 0
}

// upper is s with its first letter in upper case.
func upper(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// fold makes verdict stand for f too.
func fold(verdict *Finding, f Finding) {
	verdict.Severity = worse(verdict.Severity, f.Severity)
	if !slices.Contains(verdict.Folded, f.ID) && f.ID != verdict.ID {
		verdict.Folded = append(verdict.Folded, f.ID)
	}
	for _, id := range f.Folded {
		if !slices.Contains(verdict.Folded, id) && id != verdict.ID {
			verdict.Folded = append(verdict.Folded, id)
		}
	}
	if verdict.Evidence == nil {
		verdict.Evidence = map[string]float64{}
	}
	for k, n := range f.Evidence {
		// Measurements, not what the folded finding would have
		// recommended: the verdict's fix is the one to follow.
		if _, ok := verdict.Evidence[k]; !ok && !strings.HasPrefix(k, "recommended") {
			verdict.Evidence[k] = n
		}
	}
}

// foldCounters folds the namespace counter findings that traced evidence
// accounts for into the verdict of the listener it is from: with a trace,
// ListenOverflows rising "in bursts" is the overflows a listener's trace
// counted, and SYN cookies sent while a listener's queue overflowed at
// cookie ACKs are that listener's. Without a trace, nothing is attributed.
func foldCounters(v *view, fs []Finding, folded []bool, verdicts map[string]int) {
	if v.in.TraceSeconds == 0 {
		return
	}
	// The traced listener that overflowed most, and the one whose SYN
	// queue was full or whose cookie ACKs overflowed.
	var overflowed, cookies *model.Listener
	for i := range v.now.Listeners {
		l := &v.now.Listeners[i]
		t := l.Traced
		if t == nil {
			continue
		}
		if t.Overflows.Total() > 0 && (overflowed == nil || t.Overflows.Total() > overflowed.Traced.Overflows.Total()) {
			overflowed = l
		}
		if (t.Overflows.CookieAckTime > 0 || t.SynQueueHighWater >= l.AcceptQueueMax && l.AcceptQueueMax > 0) &&
			(cookies == nil || t.Overflows.CookieAckTime > cookies.Traced.Overflows.CookieAckTime) {
			cookies = l
		}
	}
	for j, f := range fs {
		var to *model.Listener
		switch f.ID {
		case "listen-overflows-in-bursts":
			to = overflowed
		case "syn-queue-overflow-cookies":
			to = cookies
		}
		if to == nil || folded[j] {
			continue
		}
		i, ok := verdicts[SubjectOf(*to)]
		if !ok {
			continue
		}
		verdict := &fs[i]
		if f.ID == "syn-queue-overflow-cookies" {
			n := f.Evidence[v.counterKey("TcpExtTCPReqQFullDoCookies")]
			syn := fmt.Sprintf(" Its SYN queue, capped by the same backlog, was full too: TcpExtTCPReqQFullDoCookies rose by %s, SYNs answered with a cookie instead of a request socket.", model.Num(n))
			if strings.Contains(verdict.Reason, cookieAckText) {
				verdict.Reason = strings.Replace(verdict.Reason, cookieAckText, syn+cookieAckText, 1)
			} else {
				verdict.Reason += syn
			}
		}
		fold(verdict, f)
		folded[j] = true
	}
}

// sizingAgrees makes backlog-sizing say so when the listener it sized has
// a verdict that no backlog fixes (a slow or stalled acceptor, a stopped
// owner, a cap): the size would hold the load, not make it move.
func sizingAgrees(v *view, fs []Finding, verdicts map[string]int) {
	l, ok := v.sizedListener()
	if !ok {
		return
	}
	i, ok := verdicts[SubjectOf(*l)]
	if !ok || fs[i].Recommended != nil || fs[i].Key != "" {
		return
	}
	for j := range fs {
		if fs[j].ID == "backlog-sizing" {
			fs[j].Reason += fmt.Sprintf(" But what limits %s is not its backlog (%s): a backlog this size would hold the load, not take it any faster.", SubjectOf(*l), fs[i].ID)
		}
	}
}

// neverLower drops a recommendation that would lower a size: advise never
// recommends less than what is there (a mode key such as tcp_syncookies is
// a choice, not a size).
func neverLower(f *Finding) {
	if f.Current == nil || f.Recommended == nil || *f.Recommended >= *f.Current || f.Key != "" && ModeKey(f.Key) {
		return
	}
	f.Recommended = nil
}
