// Package trace attaches backlogctl's eBPF programs to kernel tracepoints and
// collects, per listening socket, what sock_diag cannot see between two
// samples: the exact accept-queue high water, connections enqueued and
// accepted, drops by kernel drop reason, how long connections waited in the
// accept queue, and accept() errors by process and errno.
//
// A Collector is a source: Start loads and attaches the programs, Snapshot
// reads the cumulative Evidence keyed by network namespace and socket cookie
// (what sock_diag reports as inspect.Listener.Cookie), Close detaches
// everything. Join turns Evidence and inspect snapshots into a Report.
package trace
