package advise

import (
	"strconv"
	"strings"
)

// kernelVersion parses the major, minor and patch numbers of a release such
// as "6.18.44" or "4.19.0-27-amd64"; ok is false when major and minor cannot
// be read (a missing patch is 0).
func kernelVersion(release string) (major, minor, patch int, ok bool) {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return 0, 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(leadingDigits(parts[1]))
	if err1 != nil || err2 != nil {
		return 0, 0, 0, false
	}
	if len(parts) == 3 {
		patch, _ = strconv.Atoi(leadingDigits(parts[2]))
	}
	return major, minor, patch, true
}

func leadingDigits(s string) string {
	if i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		return s[:i]
	}
	return s
}

// before44 reports a kernel older than 4.4, where the SYN queue was a table
// sized from min(backlog, tcp_max_syn_backlog); unknown versions are not.
func before44(release string) bool {
	major, minor, _, ok := kernelVersion(release)
	return ok && (major < 4 || major == 4 && minor < 4)
}

// synFullRule is how the running kernel's inet_csk_reqsk_queue_is_full
// compares the SYN queue's length with the listener's effective backlog.
type synFullRule int

const (
	// synFullAtLeast: full at qlen >= backlog (4.4 until the January 2025
	// fix), so a backlog of 0 keeps it always full.
	synFullAtLeast synFullRule = iota
	// synFullAbove: full at qlen > backlog (6.13, and 6.12.10 / 6.1.125 in
	// their stable branches).
	synFullAbove
	// synFullUnknown: a stable branch released after the fix that may carry
	// it as a backport; the two rules differ only at qlen == backlog.
	synFullUnknown
)

// fixBackports are the first releases of stable branches maintained in
// January 2025 that may carry the fix (6.12 and 6.1 are known to).
var fixBackports = map[[2]int]struct {
	patch int
	known bool
}{
	{6, 12}: {10, true}, {6, 1}: {125, true},
	{6, 6}: {72, false}, {5, 15}: {177, false}, {5, 10}: {233, false}, {5, 4}: {289, false},
}

// synQueueRule returns the running kernel's SYN-queue full rule; an
// unparsable release is unknown.
func synQueueRule(release string) synFullRule {
	major, minor, patch, ok := kernelVersion(release)
	if !ok {
		return synFullUnknown
	}
	if major > 6 || major == 6 && minor >= 13 {
		return synFullAbove
	}
	b, stable := fixBackports[[2]int{major, minor}]
	switch {
	case !stable || patch < b.patch:
		return synFullAtLeast
	case b.known:
		return synFullAbove
	}
	return synFullUnknown
}

// synQueueFull applies rule to a SYN queue of qlen requests and its cap.
func (r synFullRule) full(qlen, limit int64) bool {
	if r == synFullAbove {
		return qlen > limit
	}
	return qlen >= limit // also where unknown: full, or one request short
}

// text says what the rule is, for a finding's reason.
func (r synFullRule) text() string {
	switch r {
	case synFullAbove:
		return "this kernel counts the SYN queue full when it holds more than the backlog (qlen > backlog since 6.12.10 and 6.1.125)"
	case synFullAtLeast:
		return "this kernel counts the SYN queue full when it holds the backlog (qlen >= backlog before 6.12.10 and 6.1.125)"
	}
	return "this kernel counts the SYN queue full at qlen >= backlog, or at qlen > backlog if it carries the 2025 fix (6.12.10, 6.1.125 and possibly other stable branches), so at exactly the backlog it is full or one request short"
}
