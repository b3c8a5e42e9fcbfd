package rlimit

import "github.com/backlogctl/backlogctl/model"

// Usage statuses of a process's descriptors against its soft RLIMIT_NOFILE;
// the model defines them, for rlimit and advise alike.
const (
	StatusOK      = model.StatusOK
	StatusNear    = model.StatusNear
	StatusAtLimit = model.StatusAtLimit
	StatusUnknown = model.StatusUnknown
)

// NearMargin is model.NearMargin.
func NearMargin(soft uint64) uint64 { return model.NearMargin(soft) }

// UsageStatus is model.UsageStatus.
func UsageStatus(open int, soft uint64) string { return model.UsageStatus(open, soft) }
