// Package sysctl knows the kernel tunables that decide whether a host accepts
// TCP connections: their scope, type, range, default and meaning (package
// sysctl/registry, re-exported here), and how to read and write them under
// /proc/sys.
package sysctl

import "github.com/backlogctl/backlogctl/sysctl/registry"

// Scope says where a tunable's value lives.
type Scope = registry.Scope

// Scopes a tunable can have.
const (
	ScopeNetns  = registry.ScopeNetns
	ScopeGlobal = registry.ScopeGlobal
)

// Kind is the C type the kernel stores a tunable in; it decides what a write accepts.
type Kind = registry.Kind

// Kinds of tunable storage.
const (
	KindInt   = registry.KindInt
	KindU8    = registry.KindU8
	KindUint  = registry.KindUint
	KindULong = registry.KindULong
	KindTuple = registry.KindTuple
)

// Key describes one tunable in the registry.
type Key = registry.Key

// Registry lists the tunables backlogctl reads, in display order.
var Registry = registry.Registry

// Lookup finds a registry key by its dotted name, its slash path or an alias.
func Lookup(name string) (Key, bool) { return registry.Lookup(name) }

// Names returns every registry name and alias, sorted; used for completion.
func Names() []string { return registry.Names() }
