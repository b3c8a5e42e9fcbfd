package inspect

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/model"
)

// Selection says which listeners a dump keeps: TCP ones on Ports and Unix
// ones whose path matches Paths (MatchUnixPath). Empty, it keeps every
// listener; with only ports it keeps no Unix listener, and with only paths
// no TCP one, as --port and --path select.
type Selection struct {
	Ports []uint16
	Paths []string
	// NoRequests leaves the request sockets out of the TCP dump: every
	// SynQueue is then 0. Asking for them makes the kernel walk the
	// established table, which is shared by every namespace of the host
	// (inet_diag_dump_icsk), while listeners alone are the listening
	// table's; only a caller that knows no listener kept can have a
	// request socket sets it (collect's synWalks).
	NoRequests bool
}

// SelectPorts is the selection of the listeners on ports (every listener,
// Unix ones included, when there are none).
func SelectPorts(ports []uint16) Selection { return Selection{Ports: ports} }

// TCP says whether the selection keeps TCP listeners.
func (s Selection) TCP() bool { return len(s.Ports) > 0 || len(s.Paths) == 0 }

// Unix says whether the selection keeps Unix listeners.
func (s Selection) Unix() bool { return len(s.Paths) > 0 || len(s.Ports) == 0 }

// NoUnixDiag is the warning for a kernel built without unix_diag
// (CONFIG_UNIX_DIAG): its Unix listeners cannot be listed.
const NoUnixDiag = "Unix listeners not shown: this kernel has no unix_diag (CONFIG_UNIX_DIAG), which sock_diag needs to list them"

// SelectedListeners dumps the listeners sel keeps with d (nil: a dumper
// opened for the call): TCP ones sorted by port, then Unix ones sorted by
// path. A kernel without unix_diag gives the TCP ones and the warning
// NoUnixDiag.
func SelectedListeners(d *Dumper, sel Selection) (ls []model.Listener, warning string, err error) {
	if d == nil {
		if d, err = NewDumper(); err != nil {
			return nil, "", err
		}
		defer d.Close()
	}
	ls = []model.Listener{}
	if sel.TCP() {
		if ls, err = listeners(d, sel.Ports, !sel.NoRequests); err != nil {
			return nil, "", err
		}
	}
	if sel.Unix() {
		us, err := UnixListeners(d, sel.Paths)
		switch {
		case errors.Is(err, unix.ENOENT):
			return ls, NoUnixDiag, nil
		case err != nil:
			return nil, "", err
		}
		ls = append(ls, us...)
	}
	return ls, "", nil
}
