// Package registry knows the kernel tunables that decide whether a host
// accepts TCP connections: their scope, type, range, default and meaning.
// It is data only, no I/O, so the judges (advise, check) can name and scope
// keys without linking the code that reads and writes /proc/sys (package
// sysctl, which re-exports these names).
package registry

import (
	"math"
	"sort"
	"strings"
)

// Scope says where a tunable's value lives.
type Scope string

const (
	// ScopeNetns tunables have one value per network namespace.
	ScopeNetns Scope = "netns"
	// ScopeGlobal tunables have one value for the whole host.
	ScopeGlobal Scope = "global"
)

// Kind is the C type the kernel stores a tunable in; it decides what a write accepts.
type Kind string

const (
	KindInt   Kind = "int"   // proc_dointvec: signed 32-bit
	KindU8    Kind = "u8"    // proc_dou8vec_minmax: 0..255
	KindUint  Kind = "uint"  // unsigned 32-bit
	KindULong Kind = "ulong" // proc_doulongvec_minmax: clamped to LONG_MAX by the kernel
	KindTuple Kind = "tuple" // several numbers on one line (read-only here)
)

// Key describes one tunable in the registry.
type Key struct {
	// Name is the dotted sysctl name, e.g. net.core.somaxconn.
	Name string `json:"name"`
	// Aliases are short names accepted on the command line, e.g. somaxconn.
	Aliases []string `json:"aliases,omitempty"`
	// Scope says whether each network namespace has its own value.
	Scope Scope `json:"scope"`
	// Kind is the kernel's storage type.
	Kind Kind `json:"type"`
	// Min and Max bound a valid write (inclusive).
	Min int64 `json:"min"`
	Max int64 `json:"max"`
	// Default is the kernel's compiled default, as text (some depend on the host).
	Default string `json:"default"`
	// Meaning is a one-line explanation for tables.
	Meaning string `json:"meaning"`
	// ReadOnly keys are reported but never written (fs.file-nr).
	ReadOnly bool `json:"read_only,omitempty"`
	// Mode keys select a behaviour (tcp_syncookies 0/1/2): a smaller number
	// is another mode, not less capacity, so changing one never "lowers" it.
	Mode bool `json:"mode,omitempty"`
}

// Path returns the key's path relative to /proc/sys.
func (k Key) Path() string { return strings.ReplaceAll(k.Name, ".", "/") }

// Registry lists the tunables backlogctl reads, in display order.
// Scopes, types and defaults come from net/core/sysctl_net_core.c,
// net/ipv4/sysctl_net_ipv4.c, net/ipv4/tcp_ipv4.c and fs/file_table.c.
var Registry = []Key{
	{
		Name: "net.core.somaxconn", Aliases: []string{"somaxconn"},
		Scope: ScopeNetns, Kind: KindInt, Min: 0, Max: math.MaxInt32, Default: "4096",
		Meaning: "ceiling on listen() backlog: caps both the accept queue and the SYN queue",
	},
	{
		Name: "net.ipv4.tcp_max_syn_backlog", Aliases: []string{"tcp_max_syn_backlog", "max_syn_backlog"},
		Scope: ScopeNetns, Kind: KindInt, Min: 0, Max: math.MaxInt32, Default: "max(128, ehash_entries/128)",
		Meaning: "only with syncookies off: drop SYNs from unknown peers once the SYN queue is 3/4 of this",
	},
	{
		Name: "net.ipv4.tcp_syncookies", Aliases: []string{"tcp_syncookies", "syncookies"},
		Scope: ScopeNetns, Kind: KindU8, Min: 0, Max: 255, Default: "1", Mode: true,
		Meaning: "0 off, 1 send cookies when the SYN queue overflows, 2 always",
	},
	{
		Name: "net.ipv4.tcp_abort_on_overflow", Aliases: []string{"tcp_abort_on_overflow", "abort_on_overflow"},
		Scope: ScopeNetns, Kind: KindU8, Min: 0, Max: 1, Default: "0", Mode: true,
		Meaning: "1 resets the client when the accept queue is full; 0 drops the ACK and retries",
	},
	{
		Name: "net.ipv4.tcp_synack_retries", Aliases: []string{"tcp_synack_retries", "synack_retries"},
		Scope: ScopeNetns, Kind: KindU8, Min: 0, Max: 255, Default: "5",
		Meaning: "SYN-ACK retransmissions before a half-open request is given up",
	},
	{
		Name: "net.core.netdev_max_backlog", Aliases: []string{"netdev_max_backlog"},
		Scope: ScopeGlobal, Kind: KindInt, Min: 0, Max: math.MaxInt32, Default: "1000",
		Meaning: "per-CPU input packet queue; overflow drops show in /proc/net/softnet_stat",
	},
	{
		Name: "fs.file-max", Aliases: []string{"file-max", "file_max"},
		Scope: ScopeGlobal, Kind: KindULong, Min: 0, Max: math.MaxInt64, Default: "computed from memory",
		Meaning: "system-wide open files; accept() fails with ENFILE beyond it",
	},
	{
		Name: "fs.nr_open", Aliases: []string{"nr_open"},
		Scope: ScopeGlobal, Kind: KindUint, Min: 64, Max: 2147483584, Default: "1048576",
		Meaning: "ceiling for any process's RLIMIT_NOFILE hard limit",
	},
}

// Lookup finds a registry key by its dotted name, its slash path or an alias.
func Lookup(name string) (Key, bool) {
	n := strings.ReplaceAll(strings.TrimSpace(name), "/", ".")
	for _, k := range Registry {
		if k.Name == n {
			return k, true
		}
		for _, a := range k.Aliases {
			if a == n {
				return k, true
			}
		}
	}
	return Key{}, false
}

// Names returns every registry name and alias, sorted; used for completion.
func Names() []string {
	var out []string
	for _, k := range Registry {
		out = append(out, k.Name)
		out = append(out, k.Aliases...)
	}
	sort.Strings(out)
	return out
}

// LowersInt reports whether setting key from current to value lowers it:
// the one rule tune, sysctl set and rlimit set share. A mode key chooses a
// behaviour, not a size, so setting it never lowers anything.
func LowersInt(key string, current, value int64) bool {
	return !IsMode(key) && value < current
}

// IsMode reports whether key is a registry mode key (Key.Mode).
func IsMode(key string) bool {
	k, ok := Lookup(key)
	return ok && k.Mode
}
