// Package netns finds network namespaces and runs code inside one.
//
// A sock_diag dump, /proc/sys/net and /proc/thread-self/net all follow the
// network namespace of the calling *thread* (sock_diag: the netlink socket's
// namespace, fixed when it is created; sysctl: net_ctl_header_lookup reads
// current->nsproxy; /proc/self/net follows the thread-group leader, so a
// thread that has called setns must read /proc/thread-self/net instead).
// Do runs a function on a locked OS thread moved into the target namespace
// and moves it back before the thread returns to the Go scheduler.
package netns
