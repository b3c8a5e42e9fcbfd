// Package model holds what backlogctl knows about a host, with no I/O: the
// snapshot of one network namespace (listeners, their owners, tunables with
// a typed error per key, counters, descriptor accounting), the snapshots of
// many namespaces, and the window that folds samples over time into peaks
// and deltas, traced evidence (buckets, not quantiles) folded the same way,
// and what backlogctl changed. The collector (collect, with its readers)
// fills it; the judges (advise, check), metrics and the renderers read it,
// and import nothing that touches the kernel.
package model
