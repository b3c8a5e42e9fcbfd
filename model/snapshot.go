package model

import (
	"fmt"
	"time"
)

// Snapshot is everything known of one network namespace at one moment. Its
// JSON form is inspect's contract scripts rely on: field names are stable,
// new fields may be added.
type Snapshot struct {
	Time time.Time `json:"time"`
	// Kernel is the running kernel's release (uname -r).
	Kernel string `json:"kernel,omitempty"`
	// Sysctls holds every registry tunable visible here; absent keys are omitted.
	Sysctls map[string]int64 `json:"sysctls"`
	// SysctlErrors says why a registry tunable could not be read, by key (a
	// key simply absent is in neither map); each is also a Warning. The
	// errors are the reader's own, so errors.Is(err, fs.ErrPermission) holds.
	SysctlErrors map[string]error `json:"-"`
	// Counters holds /proc/net/netstat and /proc/net/snmp under nstat names.
	Counters  map[string]uint64 `json:"counters"`
	Files     *Files            `json:"files,omitempty"`
	Listeners []Listener        `json:"listeners"`
	// Warnings say what could not be seen, once each; [] when nothing was missed.
	Warnings []string `json:"warnings"`
	// UnattributedAcceptErrors are failed accept() calls of processes in
	// this namespace whose listening socket tracing could not resolve
	// (e.g. EBADF on a closed descriptor), when the snapshot was traced.
	UnattributedAcceptErrors []AcceptErrors `json:"-"`
}

// Namespace identifies one network namespace.
type Namespace struct {
	// Inode is the namespace's nsfs inode: what `ls -L -i /proc/PID/ns/net`
	// and `ip netns identify` compare, unique on the host while it lives.
	Inode uint64 `json:"inode"`
	// Name is its name under /run/netns, when it has one.
	Name string `json:"name,omitempty"`
	// Path is a file that opens it (/run/netns/NAME or /proc/PID/ns/net).
	Path string `json:"path"`
	// Hint names the container or pod that owns it, guessed from the cgroup
	// path of a process inside it ("docker:3f2a...", "pod:1c5e..."); empty
	// when nothing recognisable was found.
	Hint string `json:"hint,omitempty"`
}

// Label is how reports name the namespace in one word: its name if it has
// one, else InodeLabel.
func (n Namespace) Label() string {
	if n.Name != "" {
		return n.Name
	}
	return InodeLabel(n.Inode)
}

// InodeLabel names a namespace by inode as every report does,
// "netns:[4026531840]": the kernel's own "net:[INODE]" (readlink
// /proc/PID/ns/net) with the word the flags use.
func InodeLabel(inode uint64) string {
	return fmt.Sprintf("netns:[%d]", inode)
}

// NamespaceSnapshot is one network namespace's snapshot, labelled with the
// namespace. Its JSON is the Snapshot's fields plus "netns".
type NamespaceSnapshot struct {
	Netns Namespace `json:"netns"`
	*Snapshot
}

// MultiSnapshot is the snapshots of several namespaces (inspect --all-netns).
// Notes say which namespaces were skipped and why.
type MultiSnapshot struct {
	Time       time.Time           `json:"time"`
	Namespaces []NamespaceSnapshot `json:"namespaces"`
	Notes      []string            `json:"notes,omitempty"`
	// Trace says what the listeners' Traced evidence covers, when the
	// snapshots were traced.
	Trace *TraceInfo `json:"-"`
}
