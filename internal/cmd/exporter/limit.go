package exporter

import (
	"net"
	"net/http"
	"sync"

	"golang.org/x/sys/unix"
)

// limitListener accepts at most max connections at a time; beyond that,
// new connections wait in the listening socket's own accept queue until one
// closes. A dozen lines instead of golang.org/x/net/netutil, which is not a
// dependency, and it can also tell whether anyone is waiting (queued).
type limitListener struct {
	*net.TCPListener
	slots chan struct{}

	closeOnce sync.Once
	done      chan struct{}
}

func newLimitListener(ln *net.TCPListener, max int) *limitListener {
	return &limitListener{TCPListener: ln, slots: make(chan struct{}, max), done: make(chan struct{})}
}

// Accept takes a slot, then a connection; the slot is returned when the
// connection is closed.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.TCPListener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &slotConn{Conn: c, release: func() { <-l.slots }}, nil
}

// Close stops Accept, including one waiting for a slot.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.TCPListener.Close()
}

// inUse is how many accepted connections hold a slot.
func (l *limitListener) inUse() int { return len(l.slots) }

// queued reports whether every slot is taken while connections wait in the
// accept queue: for a listener, TCP_INFO's tcpi_unacked is sk_ack_backlog
// (tcp_get_info).
func (l *limitListener) queued() bool {
	if l.inUse() < cap(l.slots) {
		return false
	}
	rc, err := l.SyscallConn()
	if err != nil {
		return false
	}
	waiting := false
	rc.Control(func(fd uintptr) {
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			waiting = info.Unacked > 0
		}
	})
	return waiting
}

// fair ends a kept-alive connection after its response while others wait
// for a slot, so idle keep-alive clients cannot starve new ones until the
// idle timeout.
func (l *limitListener) fair(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l.queued() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// slotConn returns its slot once, on the first Close.
type slotConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
