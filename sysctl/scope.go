package sysctl

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotPerNetns reports a key written inside a chosen network namespace
// (--netns) whose value is not that namespace's own: writing it there would
// change the whole host and record the change under the namespace.
var ErrNotPerNetns = errors.New("not per network namespace")

// ScopeOf says where a key's value lives: the registry's scope for its keys;
// for others, netns under net. (a child namespace is shown only the net.*
// keys it has its own copy of: net/sysctl_net.c net_ctl_header_lookup) and
// global elsewhere (fs., vm., kernel. have one value for the host, or one per
// another kind of namespace, never per network namespace).
func ScopeOf(name string) Scope {
	if k, ok := Lookup(name); ok {
		return k.Scope
	}
	if strings.HasPrefix(strings.ReplaceAll(name, "/", "."), "net.") {
		return ScopeNetns
	}
	return ScopeGlobal
}

// CheckNetnsScope refuses a key that a write inside one chosen network
// namespace must not make: a global key. hostNetns says the chosen namespace
// is the host's own (init's), where global net.* keys are visible too, so a
// net.* key outside the registry cannot be told apart from a per-netns one.
func CheckNetnsScope(name string, hostNetns bool) error {
	if ScopeOf(name) == ScopeGlobal {
		return fmt.Errorf("%w: %s is global (one value for the whole host), so --netns cannot change it for one namespace; set it without --netns", ErrNotPerNetns, name)
	}
	if _, known := Lookup(name); !known && hostNetns {
		return fmt.Errorf("%w: %s is not in backlogctl's registry, and in the host's own network namespace global net.* keys are visible too, so its scope cannot be told; set it without --netns", ErrNotPerNetns, name)
	}
	return nil
}

// InitNetns reports whether the tree is the host's own network namespace
// (init_net): net.core.netdev_max_backlog, a global key, is registered for
// init_net only and is absent from every other namespace's /proc/sys/net
// (net/core/sysctl_net_core.c). The link of /proc/1/ns/net would not do: in
// a container pid 1 is in the container's namespace, and reading it may be
// refused.
func (fs FS) InitNetns() bool {
	_, err := fs.path(initNetnsKey)
	return err == nil
}

const initNetnsKey = "net.core.netdev_max_backlog"
