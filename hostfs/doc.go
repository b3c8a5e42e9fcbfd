// Package hostfs is where backlogctl reads the host: one Roots value holds
// the proc, sys and named-netns directories, like prometheus/procfs's FS, so
// every read below it can be pointed at a fixture tree in a test. It holds
// the one reader of each /proc/PID file a process is known by — fd, comm,
// cmdline, stat, cgroup, exe — that the collector, rlimit and tracing share.
package hostfs
