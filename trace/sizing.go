package trace

import (
	"math"

	"github.com/backlogctl/backlogctl/inspect"
)

// OptionsFor sizes a collector for the listeners in m, a snapshot of the
// namespaces to be traced taken just before Start: room for
// ListenerHeadroom times as many, or atLeast (--trace-listeners) if more.
// Unless all (every namespace, now and later, is read), only m's
// namespaces are traced.
func OptionsFor(m *inspect.MultiSnapshot, all bool, atLeast int) Options {
	n := 0
	var inodes []uint64
	for _, ns := range m.Namespaces {
		n += len(ns.Listeners)
		inodes = append(inodes, ns.Netns.Inode)
	}
	o := Options{Listeners: max(int(math.Ceil(float64(n)*ListenerHeadroom)), atLeast)}
	if !all {
		o.Netns = inodes
	}
	return o
}

// StartSource is Start as a Source factory.
func StartSource(o Options) (Source, error) { return Start(o) }
