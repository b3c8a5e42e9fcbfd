// Package hostfs is where backlogctl reads the host: one Roots value holds
// the proc, sys and named-netns directories, like prometheus/procfs's FS, so
// every read below it can be pointed at a fixture tree in a test. It holds
// the one descriptor reader (/proc/PID/fd) and the one cgroup parser that
// inspect, rlimit and the commands share.
package hostfs
