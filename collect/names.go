package collect

import (
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/netns"
)

// NamespaceNames lists the network namespaces named under roots.Netns
// (`ip netns list`), sorted: what --netns NAME accepts.
func NamespaceNames(roots hostfs.Roots) []string {
	return netns.Names(roots.WithDefaults().Netns)
}
