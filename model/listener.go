package model

import (
	"net/netip"
	"strconv"
)

// Listener is one listening socket, TCP or Unix, and what its queues are
// doing.
type Listener struct {
	// Family is "ipv4", "ipv6" or "unix".
	Family string `json:"family"`
	// Address and Port are a TCP listener's; empty and 0 for a Unix one.
	Address string `json:"address"`
	Port    uint16 `json:"port"`
	// Path is a Unix listener's bound path, or its abstract name written
	// "@name" as ss(8) does; empty for TCP. It is where a TCP listener has
	// its port.
	Path string `json:"path,omitempty"`
	// SocketType is a Unix listener's type, "stream" or "seqpacket";
	// omitted for TCP.
	SocketType string `json:"socket_type,omitempty"`
	// AcceptQueue is completed handshakes waiting for accept() (sk_ack_backlog).
	AcceptQueue uint32 `json:"accept_queue"`
	// AcceptQueueMax is the effective backlog, min(listen backlog, somaxconn)
	// at the time listen() was called (sk_max_ack_backlog).
	AcceptQueueMax uint32 `json:"accept_queue_max"`
	// Fill is AcceptQueue / (AcceptQueueMax+1): the kernel's queue is full
	// when it holds backlog+1 (sk_acceptq_is_full uses >), so 1.0 means full.
	Fill float64 `json:"fill"`
	// SynQueue counts half-open request sockets for this listener. For a
	// member of an SO_REUSEPORT group it is the group's count (SynQueueShared).
	SynQueue       uint32 `json:"syn_queue"`
	SynQueueShared bool   `json:"syn_queue_shared,omitempty"`
	// Drops is the listener's own drop count (SK_MEMINFO_DROPS), cumulative
	// since the socket was created; absent on kernels before 4.7.
	Drops *uint32 `json:"drops,omitempty"`
	Inode uint32  `json:"inode"`
	// SocketFileInode and SocketFileDev are, for a Unix listener bound to a
	// path, its socket file's inode and device (unix_diag's UNIX_DIAG_VFS,
	// the device as stat(2)'s st_dev encodes it), 0 otherwise: what stat(2)
	// of the path gives while it leads to this listener. A connect() to a
	// path finds its listener by that inode, in any network namespace. In
	// the struct's alignment holes, so a listener costs no more memory.
	SocketFileInode uint32 `json:"-"`
	// Cookie is the socket cookie: unique on the host while it runs, and
	// what backlogctl trace keys its eBPF evidence by.
	Cookie uint64 `json:"cookie"`
	UID    uint32 `json:"uid"`
	// SocketFileDev: see SocketFileInode.
	SocketFileDev uint32 `json:"-"`
	// V6Only is reported for IPv6 listeners: false means dual-stack.
	V6Only *bool `json:"v6only,omitempty"`
	// BoundIfindex is the device the listener is bound to (SO_BINDTODEVICE),
	// omitted when unbound. Listeners on one address and port but different
	// devices are separate, not an SO_REUSEPORT group.
	BoundIfindex uint32 `json:"bound_ifindex,omitempty"`
	// ReuseportGroup numbers the SO_REUSEPORT group (same family, address,
	// port, device and v6only) this listener belongs to, from 1; 0 when alone.
	ReuseportGroup int `json:"reuseport_group,omitempty"`
	ReuseportSize  int `json:"reuseport_size,omitempty"`
	// Processes hold the socket; empty when attribution was skipped or denied.
	Processes []Process `json:"processes"`
	// ConfiguredBacklog is the backlog the owning program's running
	// configuration asks listen() for, when backlogctl knows the program
	// and could read it: what the socket gets the next time the program
	// calls listen(), which may differ from AcceptQueueMax.
	ConfiguredBacklog *ConfiguredBacklog `json:"configured_backlog,omitempty"`
	// ConnectionCap is the limit the owning program puts on its own
	// concurrent connections (HAProxy maxconn, PostgreSQL
	// max_connections, memcached -c, gunicorn and uWSGI workers), as read
	// from its running configuration; nil when not known.
	ConnectionCap *ConnectionCap `json:"connection_cap,omitempty"`
	// QueueHead is, for a Unix listener, the client socket inode of the
	// oldest connection waiting in its queue (UNIX_DIAG_ICONS), 0 when the
	// queue is empty or it is not known. accept() takes the oldest, so the
	// same head at two samples means nothing was accepted in between.
	QueueHead uint32 `json:"-"`
	// OwnersPending is set by an owner cache while this listener's owners are
	// still being looked up: Processes is empty because they are not known
	// yet, not because there are none.
	OwnersPending bool `json:"-"`
	// Addr is Address parsed, for sorting and matching without parsing text.
	Addr netip.Addr `json:"-"`
	// Traced is the listener's eBPF evidence, joined by its cookie, when
	// the snapshot was traced; nil otherwise.
	Traced *Traced `json:"-"`
}

// FamilyUnix is a Unix-socket listener's Family.
const FamilyUnix = "unix"

// IsUnix reports whether l is a Unix-socket listener.
func (l Listener) IsUnix() bool { return l.Family == FamilyUnix }

// Endpoint is "address:port", with IPv6 addresses in brackets; a Unix
// listener's path (or "@abstract" name).
func (l Listener) Endpoint() string {
	if l.IsUnix() {
		return l.Path
	}
	return netip.AddrPortFrom(l.Addr, l.Port).String()
}

// Columns are what a table shows in its ADDRESS and PORT columns: a Unix
// listener has "unix" (or "unix/seqpacket") where the address is and its
// path where the port is.
func (l Listener) Columns() (address, port string) {
	if l.IsUnix() {
		if l.SocketType == "stream" {
			return "unix", l.Path
		}
		return "unix/" + l.SocketType, l.Path
	}
	return l.Address, strconv.Itoa(int(l.Port))
}

// DropCount is Drops, or 0 where the kernel does not report it.
func (l Listener) DropCount() uint32 {
	if l.Drops == nil {
		return 0
	}
	return *l.Drops
}

// Fill is how full an accept queue of queue entries is against the backlog
// max: the kernel's queue is full when it holds max+1 (sk_acceptq_is_full).
func Fill(queue, max uint32) float64 {
	return float64(queue) / (float64(max) + 1)
}

// ConfiguredBacklog is a program's own backlog setting for a listener, as
// read from the configuration the running program was started with.
type ConfiguredBacklog struct {
	// Program names the program as advise does: "PHP-FPM", "gunicorn",
	// "uWSGI", "PgBouncer".
	Program string `json:"program"`
	// Setting is the setting's name in the program's own terms
	// ("listen.backlog", "--backlog", "listen", "listen_backlog").
	Setting string `json:"setting"`
	// Value is what listen() is asked for; negative means somaxconn.
	Value int64 `json:"value"`
	// Default is set when the configuration does not set it and Value is
	// the program's default.
	Default bool `json:"default,omitempty"`
	// Source says where Value comes from: "FILE:LINE" (a path inside the
	// program's mount namespace), "command line", or an environment
	// variable's name; the program's default has none.
	Source string `json:"source,omitempty"`
	// Detail says how Value is made from the program's settings, when it
	// is not one setting's value ("max_connections 20 + ...").
	Detail string `json:"detail,omitempty"`
}

// ConnectionCap is a limit a program puts on its own concurrent
// connections, as read from the configuration the running program was
// started with.
type ConnectionCap struct {
	// Program names the program as advise does: "HAProxy", "PostgreSQL".
	Program string `json:"program"`
	// Setting is the setting as its configuration names it ("maxconn",
	// "max_connections", "-c", "--workers").
	Setting string `json:"setting"`
	// Value is how many connections the program holds at once, at most.
	Value int64 `json:"value"`
	// Default marks the program's default, no setting being found.
	Default bool `json:"default,omitempty"`
	// Source is where Value was read, as ConfiguredBacklog's.
	Source string `json:"source,omitempty"`
	// Detail says how Value is made when it is not one setting alone
	// ("--workers 2 × --threads 4").
	Detail string `json:"detail,omitempty"`
	// Refuses: at its cap the program still accepts, and closes or refuses
	// the connection itself (PostgreSQL's "sorry, too many clients
	// already"), so its accept queue does not fill; otherwise it stops
	// accepting and connections wait in the queue.
	Refuses bool `json:"refuses,omitempty"`
	// Held are the connections the listener's owners accepted and still
	// hold: TCP sockets on its address and port, established or closing
	// (CLOSE_WAIT), less those still in its accept queue. Counted where a
	// cap is known and only by advise (it costs a dump of every
	// connection); nil otherwise.
	Held *uint32 `json:"held,omitempty"`
}
