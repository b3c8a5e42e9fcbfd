// Package trace attaches backlogctl's eBPF programs to kernel tracepoints and
// reads, per listening socket, what sock_diag cannot see between two
// samples: the exact accept-queue high water, connections enqueued and
// accepted, drops by kernel drop reason, how long connections waited in the
// accept queue, and accept() errors by process and errno.
//
// It is the BPF C source (bpf/), the generated objects, the loader and the
// raw maps: Start loads and attaches the programs, Collector.Snapshot reads
// the cumulative Evidence keyed by network namespace and socket cookie (what
// sock_diag reports as a listener's cookie), Close detaches everything. It
// knows nothing of listeners beyond their cookies: the collector (package
// collect) joins the evidence to its snapshots.
package trace
