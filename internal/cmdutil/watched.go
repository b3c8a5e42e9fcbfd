package cmdutil

import (
	"strconv"
	"strings"
)

// Watched says in a few words which listeners a command is watching, for
// the countdown it shows while it waits: "the listeners on port 80, 443 in
// network namespace blue".
func Watched(ports []uint, paths []string, netns string, allNetns bool) string {
	var b strings.Builder
	b.WriteString("the listeners")
	var on []string
	for _, p := range ports {
		on = append(on, strconv.FormatUint(uint64(p), 10))
	}
	on = append(on, paths...)
	switch {
	case len(ports) == 1 && len(paths) == 0:
		b.WriteString(" on port " + on[0])
	case len(paths) == 0 && len(ports) > 1:
		b.WriteString(" on ports " + strings.Join(on, ", "))
	case len(on) > 0:
		b.WriteString(" on " + strings.Join(on, ", "))
	}
	switch {
	case allNetns:
		b.WriteString(" in every network namespace")
	case netns != "":
		b.WriteString(" in network namespace " + netns)
	}
	return b.String()
}
