package inspect

import (
	"net/netip"

	"github.com/backlogctl/backlogctl/model"
)

// TCP states of a connection its server still holds (tcp_states.h):
// established, and closed by the peer but not yet by the server.
const (
	stateEstablished = 1
	stateCloseWait   = 8
)

// CountConnections sets ConnectionCap.Held on each TCP listener of ls that
// has a ConnectionCap: the connections its owners accepted and still hold, from
// one dump of the namespace's established and CLOSE_WAIT sockets (d, or a
// dumper opened for the call, where the calling thread is). A connection
// belongs to the listener bound to its local address and port, or else to
// the wildcard listener on its port; those still in the accept queue are
// sockets too, and are taken off. It dumps nothing when no listener has a
// cap: on a busy host the connections are most of the sockets.
func CountConnections(d *Dumper, ls []model.Listener) error {
	ports := map[uint16]bool{}
	for _, l := range ls {
		if l.ConnectionCap != nil && !l.IsUnix() {
			ports[l.Port] = true
		}
	}
	if len(ports) == 0 {
		return nil
	}
	if d == nil {
		var err error
		if d, err = NewDumper(); err != nil {
			return err
		}
		defer d.Close()
	}
	counts := map[netip.AddrPort]uint32{}
	err := d.dumpAll(1<<stateEstablished|1<<stateCloseWait, 0, func(s *DiagSocket) {
		if ports[s.LocalPort] {
			counts[netip.AddrPortFrom(s.Local.Unmap(), s.LocalPort)]++
		}
	}, func() { clear(counts) })
	if err != nil {
		return err
	}
	// Addresses a listener is bound to itself, by port: not the wildcard's.
	bound := map[netip.AddrPort]bool{}
	for _, l := range ls {
		if !l.IsUnix() && !l.Addr.IsUnspecified() {
			bound[netip.AddrPortFrom(l.Addr.Unmap(), l.Port)] = true
		}
	}
	for i := range ls {
		l := &ls[i]
		if l.ConnectionCap == nil || l.IsUnix() {
			continue
		}
		var n uint32
		if !l.Addr.IsUnspecified() {
			n = counts[netip.AddrPortFrom(l.Addr.Unmap(), l.Port)]
		} else {
			v6 := l.Addr.Is6()
			for ap, c := range counts {
				// 0.0.0.0 takes IPv4 connections; [::] takes IPv6 ones and,
				// dual-stack, IPv4 ones (an IPv6 dump shows them mapped).
				if ap.Port() == l.Port && !bound[ap] && (v6 && (ap.Addr().Is6() || l.V6Only == nil || !*l.V6Only) || !v6 && ap.Addr().Is4()) {
					n += c
				}
			}
		}
		n -= min(n, l.AcceptQueue)
		l.ConnectionCap.Held = &n
	}
	return nil
}
