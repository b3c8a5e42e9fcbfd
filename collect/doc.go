// Package collect is backlogctl's collector: it owns every read of the host
// and the joins between them, and returns what it read as model values.
//
// Each command asks it for a snapshot of the network namespaces it names
// (Snapshot, or a Collector for repeated ones), the samples advise and tune
// judge (Samples), the observation check judges (Observe), or a stream of
// intervals (Watcher), through one Options value: which namespaces, which
// ports, whether to find the listeners' owners, whether to trace with eBPF.
// Below it are the readers, one per source: inspect (sock_diag, the
// counters, the /proc/*/fd walk), sysctl (/proc/sys), rlimit (limits),
// hostfs (the /proc/PID files, on one root), netns (entering a namespace)
// and trace (the eBPF programs and their raw maps). Above it, nothing reads
// the host: the judges and renderers see only the model.
//
// Namespaces are visited by one fan-out (each), on a thread inside each;
// listener owners are found with one /proc walk for all of them, since
// socket inodes are unique host-wide; traced evidence is joined to the
// listeners by socket cookie.
package collect
