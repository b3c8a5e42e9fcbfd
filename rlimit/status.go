package rlimit

// Usage statuses of a process's descriptors against its soft RLIMIT_NOFILE,
// as `backlogctl rlimit` and advise judge them.
const (
	// StatusOK: below the soft limit by more than the margin (or unlimited).
	StatusOK = "ok"
	// StatusNear: within NearMargin of the soft limit.
	StatusNear = "near"
	// StatusAtLimit: at or above the soft limit; accept() fails with EMFILE.
	StatusAtLimit = "at-limit"
	// StatusUnknown: the open descriptors could not be counted.
	StatusUnknown = "unknown"
)

// NearMargin is how close to the soft limit counts as near it: 1% of it,
// at least 2 descriptors.
func NearMargin(soft uint64) uint64 { return max(2, soft/100) }

// UsageStatus judges open descriptors against a soft limit; open < 0 means
// they could not be counted.
func UsageStatus(open int, soft uint64) string {
	switch {
	case open < 0:
		return StatusUnknown
	case soft == 0 || soft == Unlimited:
		return StatusOK
	case uint64(open) >= soft:
		return StatusAtLimit
	case uint64(open)+NearMargin(soft) >= soft:
		return StatusNear
	}
	return StatusOK
}
