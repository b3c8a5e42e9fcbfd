// Package inspect reads what the kernel's listening sockets are doing: their
// queues and drops through netlink sock_diag, the TCP counters from /proc/net,
// and which processes own them.
package inspect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// TCP states as the kernel numbers them (include/net/tcp_states.h).
const (
	stateSynRecv = 3
	stateListen  = 10
)

// inet_diag attribute types and request extension bits (include/uapi/linux/inet_diag.h).
const (
	attrSkMemInfo = 7      // INET_DIAG_SKMEMINFO
	attrV6Only    = 11     // INET_DIAG_SKV6ONLY
	skMemInfoDrop = 8      // SK_MEMINFO_DROPS, since 4.7
	nlaTypeMask   = 0x3fff // NLA_TYPE_MASK: strip NLA_F_NESTED / NLA_F_NET_BYTEORDER
	// extMemInfo asks for INET_DIAG_SKMEMINFO (idiag_ext bit attr-1).
	extMemInfo = 1 << (attrSkMemInfo - 1)
)

const (
	inetDiagReqLen       = 56 // sizeof(struct inet_diag_req_v2)
	inetDiagReqCompatLen = 60 // sizeof(struct inet_diag_req), the version 1 request
	// tcpDiagGetSock is TCPDIAG_GETSOCK, the version 1 request type; unlike
	// SOCK_DIAG_BY_FAMILY it dumps both families in one walk of the tables
	// (inet_diag_dump_compat sets sdiag_family = AF_UNSPEC).
	tcpDiagGetSock = 18
	inetDiagMsgLen = 72 // sizeof(struct inet_diag_msg)
	nlmsgHdrLen    = unix.SizeofNlMsghdr
)

// ErrDumpInterrupted means the kernel's socket tables changed during every
// attempt at a dump, so the result may be inconsistent.
var ErrDumpInterrupted = errors.New("sock_diag dump interrupted by socket table changes")

// diagRequest is struct inet_diag_req_v2 with an all-zero inet_diag_sockid:
// match any address, filtered by states in the kernel.
type diagRequest struct {
	family uint8
	ext    uint8
	states uint32
}

func (r *diagRequest) Len() int { return inetDiagReqLen }

func (r *diagRequest) Serialize() []byte {
	b := make([]byte, inetDiagReqLen)
	b[0] = r.family
	b[1] = unix.IPPROTO_TCP
	b[2] = r.ext
	binary.NativeEndian.PutUint32(b[4:8], r.states)
	// The sockid's cookie must be INET_DIAG_NOCOOKIE to match any socket.
	binary.NativeEndian.PutUint32(b[48:52], nl.TCPDIAG_NOCOOKIE)
	binary.NativeEndian.PutUint32(b[52:56], nl.TCPDIAG_NOCOOKIE)
	return b
}

// compatRequest is struct inet_diag_req (version 1, sent as TCPDIAG_GETSOCK):
// family u8, src_len u8, dst_len u8, ext u8, an all-zero inet_diag_sockid
// (cookie INET_DIAG_NOCOOKIE), states u32, dbs u32.
type compatRequest struct {
	ext    uint8
	states uint32
}

func (r *compatRequest) Len() int { return inetDiagReqCompatLen }

func (r *compatRequest) Serialize() []byte {
	b := make([]byte, inetDiagReqCompatLen)
	b[3] = r.ext
	binary.NativeEndian.PutUint32(b[44:48], nl.TCPDIAG_NOCOOKIE)
	binary.NativeEndian.PutUint32(b[48:52], nl.TCPDIAG_NOCOOKIE)
	binary.NativeEndian.PutUint32(b[52:56], r.states)
	return b
}

// DiagSocket is one socket from a sock_diag reply, decoded without allocation.
type DiagSocket struct {
	Family    uint8
	State     uint8
	LocalPort uint16
	Local     netip.Addr
	Inode     uint32
	UID       uint32
	// RQueue is the accept-queue length for a listener (sk_ack_backlog).
	RQueue uint32
	// WQueue is the effective backlog for a listener (sk_max_ack_backlog).
	WQueue uint32
	// Drops is SK_MEMINFO_DROPS; valid only when HasDrops.
	Drops    uint32
	HasDrops bool
	// V6Only is 1 or 0 for AF_INET6 sockets that report it, -1 otherwise.
	V6Only int8
	// IfIndex is the bound device (SO_BINDTODEVICE), 0 when unbound; for a
	// request socket, its listener's (tcp_openreq_init: ir_iif).
	IfIndex uint32
	// Cookie is the socket cookie (sock_gen_cookie), what eBPF's
	// bpf_get_socket_cookie returns for the same socket.
	Cookie uint64
}

// Dumper runs sock_diag dumps on one netlink socket, reusing its receive
// buffer between dumps. The socket belongs to the network namespace that was
// current on the thread that opened it, and keeps it for its whole life.
type Dumper struct {
	fd  int
	buf []byte
	seq uint32
	// replay, when set, answers every dump from a recording (EnvSockDiagReplay).
	replay *replayer
	// Retries is how many times an interrupted dump is tried again.
	Retries int
	// noCompat records that the kernel refused a version 1 request.
	noCompat bool
}

// NewDumper opens a NETLINK_SOCK_DIAG socket in the calling thread's network namespace.
func NewDumper() (*Dumper, error) {
	if r, err := replayFromEnv(); r != nil || err != nil {
		return &Dumper{fd: -1, replay: r}, err
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("opening sock_diag netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("binding sock_diag netlink socket: %w", err)
	}
	// A bigger receive buffer lets the kernel fill each read with more sockets.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	return &Dumper{fd: fd, buf: make([]byte, 1<<16), Retries: 3}, nil
}

// Close releases the netlink socket.
func (d *Dumper) Close() error {
	if d.replay != nil {
		return nil
	}
	return unix.Close(d.fd)
}

// Dump asks the kernel for TCP sockets of family (AF_INET or AF_INET6) in the
// given states (a bitmask of 1<<state) and calls visit for each. The kernel
// walks only the tables those states live in. An interrupted dump is retried
// up to Retries times; reset is called before each retry so the caller can
// drop what it collected.
func (d *Dumper) Dump(family uint8, states uint32, visit func(*DiagSocket), reset func()) error {
	return d.retry(reset, func() error { return d.dumpOnce(family, states, extMemInfo, visit) })
}

// retry runs once until it is not interrupted, at most Retries more times,
// calling reset before each retry.
func (d *Dumper) retry(reset func(), once func() error) error {
	var err error
	for attempt := 0; attempt <= d.Retries; attempt++ {
		if attempt > 0 && reset != nil {
			reset()
		}
		err = once()
		if !errors.Is(err, ErrDumpInterrupted) {
			return err
		}
	}
	return err
}

// DumpAll is Dump for both AF_INET and AF_INET6. It asks with one version 1
// request, so the kernel walks its tables once instead of once per family;
// where the kernel refuses that, it dumps each family in turn (a kernel
// without IPv6 answers ENOENT for AF_INET6, which is skipped). An interrupted
// dump is retried whole up to Retries times, calling reset first.
func (d *Dumper) DumpAll(states uint32, visit func(*DiagSocket), reset func()) error {
	return d.dumpAll(states, extMemInfo, visit, reset)
}

// dumpAll is DumpAll asking for the extensions ext (0: none, so no Drops:
// the kernel skips sk_get_meminfo for every socket).
func (d *Dumper) dumpAll(states uint32, ext uint8, visit func(*DiagSocket), reset func()) error {
	if d.replay != nil {
		return d.replay.dump(states, ext, visit)
	}
	if rec := recorderFromEnv(); rec != nil {
		var recReset func()
		var done func() error
		visit, recReset, done = rec.record(visit)
		reset = chain(recReset, reset)
		if err := d.retry(reset, func() error { return d.dumpAllOnce(states, ext, visit, reset) }); err != nil {
			return err
		}
		return done()
	}
	return d.retry(reset, func() error { return d.dumpAllOnce(states, ext, visit, reset) })
}

// chain is a reset that calls both, the second when set.
func chain(first, second func()) func() {
	return func() {
		first()
		if second != nil {
			second()
		}
	}
}

func (d *Dumper) dumpAllOnce(states uint32, ext uint8, visit func(*DiagSocket), reset func()) error {
	if !d.noCompat {
		err := d.dumpCompat(states, ext, visit)
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			return err // nil, interrupted, or a malformed reply
		}
		// The kernel refused the version 1 request: from now on ask per family.
		d.noCompat = true
		if reset != nil {
			reset()
		}
	}
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		err := d.dumpOnce(family, states, ext, visit)
		if family == unix.AF_INET6 && errors.Is(err, unix.ENOENT) {
			continue // IPv6 disabled on this kernel
		}
		if err != nil {
			return fmt.Errorf("%s: %w", familyName(family), err)
		}
	}
	return nil
}

func (d *Dumper) dumpOnce(family uint8, states uint32, ext uint8, visit func(*DiagSocket)) error {
	req := nl.NewNetlinkRequest(nl.SOCK_DIAG_BY_FAMILY, unix.NLM_F_DUMP)
	req.AddData(&diagRequest{family: family, states: states, ext: ext})
	return d.runInet(req, visit)
}

func (d *Dumper) dumpCompat(states uint32, ext uint8, visit func(*DiagSocket)) error {
	req := nl.NewNetlinkRequest(tcpDiagGetSock, unix.NLM_F_DUMP)
	req.AddData(&compatRequest{states: states, ext: ext})
	return d.runInet(req, visit)
}

// runInet runs a dump whose replies are struct inet_diag_msg.
func (d *Dumper) runInet(req *nl.NetlinkRequest, visit func(*DiagSocket)) error {
	return d.run(req, decodeEach(decodeDiagMsg, new(DiagSocket), visit))
}

// decodeEach is a message handler that decodes each reply body into one
// reused *sock and visits it.
func decodeEach[S any](decode func([]byte, *S) error, sock *S, visit func(*S)) func([]byte) error {
	return func(body []byte) error {
		if err := decode(body, sock); err != nil {
			return err
		}
		visit(sock)
		return nil
	}
}

// run sends a dump request and hands each reply's body to msg until the
// dump is done.
func (d *Dumper) run(req *nl.NetlinkRequest, msg func(body []byte) error) error {
	d.seq++
	req.Seq = d.seq
	if err := unix.Sendto(d.fd, req.Serialize(), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sending sock_diag request: %w", err)
	}
	interrupted := false
	for {
		// read, not recvfrom: the sender is the kernel, and recvfrom allocates
		// a Sockaddr for every datagram.
		n, err := unix.Read(d.fd, d.buf)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return fmt.Errorf("reading sock_diag reply: %w", err)
		}
		done, intr, err := parseMessages(d.buf[:n], d.seq, msg)
		interrupted = interrupted || intr
		if err != nil {
			return err
		}
		if done {
			break
		}
	}
	if interrupted {
		return ErrDumpInterrupted
	}
	return nil
}

// parseBatch decodes one datagram of inet_diag replies into sock, calling
// visit for each. It reports whether the dump is complete and whether any
// message carried NLM_F_DUMP_INTR.
func parseBatch(b []byte, seq uint32, sock *DiagSocket, visit func(*DiagSocket)) (done, interrupted bool, err error) {
	return parseMessages(b, seq, decodeEach(decodeDiagMsg, sock, visit))
}

// parseMessages walks one datagram of netlink messages, handing the body of
// each sock_diag reply of seq to msg. It reports whether the dump is
// complete and whether any message carried NLM_F_DUMP_INTR.
func parseMessages(b []byte, seq uint32, msg func(body []byte) error) (done, interrupted bool, err error) {
	for len(b) >= nlmsgHdrLen {
		msgLen := binary.NativeEndian.Uint32(b[0:4])
		typ := binary.NativeEndian.Uint16(b[4:6])
		flags := binary.NativeEndian.Uint16(b[6:8])
		msgSeq := binary.NativeEndian.Uint32(b[8:12])
		if msgLen < nlmsgHdrLen || int(msgLen) > len(b) {
			return false, interrupted, fmt.Errorf("sock_diag reply: bad message length %d", msgLen)
		}
		body := b[nlmsgHdrLen:msgLen]
		if flags&unix.NLM_F_DUMP_INTR != 0 {
			interrupted = true
		}
		if msgSeq == seq {
			switch typ {
			case unix.NLMSG_DONE:
				// netlink_dump_done: the payload is the dump's result; an
				// error there means the listing stopped part-way.
				if len(body) >= 4 {
					if errno := int32(binary.NativeEndian.Uint32(body[0:4])); errno < 0 {
						return false, interrupted, fmt.Errorf("sock_diag dump: %w", syscall.Errno(-errno))
					}
				}
				return true, interrupted, nil
			case unix.NLMSG_ERROR:
				if len(body) < 4 {
					return false, interrupted, errors.New("sock_diag reply: short error message")
				}
				errno := int32(binary.NativeEndian.Uint32(body[0:4]))
				if errno == 0 {
					return true, interrupted, nil
				}
				return false, interrupted, fmt.Errorf("sock_diag request: %w", syscall.Errno(-errno))
			case nl.SOCK_DIAG_BY_FAMILY, tcpDiagGetSock:
				if err := msg(body); err != nil {
					return false, interrupted, err
				}
			}
		}
		adv := nlmAlign(int(msgLen))
		if adv > len(b) {
			break
		}
		b = b[adv:]
	}
	return false, interrupted, nil
}

func nlmAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

func rtaAlign(n int) int { return (n + unix.RTA_ALIGNTO - 1) &^ (unix.RTA_ALIGNTO - 1) }

// decodeDiagMsg fills sock from a struct inet_diag_msg and its attributes.
func decodeDiagMsg(b []byte, sock *DiagSocket) error {
	if len(b) < inetDiagMsgLen {
		return fmt.Errorf("sock_diag reply: message of %d bytes, want at least %d", len(b), inetDiagMsgLen)
	}
	*sock = DiagSocket{
		Family:    b[0],
		State:     b[1],
		LocalPort: binary.BigEndian.Uint16(b[4:6]),
		RQueue:    binary.NativeEndian.Uint32(b[56:60]),
		WQueue:    binary.NativeEndian.Uint32(b[60:64]),
		UID:       binary.NativeEndian.Uint32(b[64:68]),
		Inode:     binary.NativeEndian.Uint32(b[68:72]),
		V6Only:    -1,
		IfIndex:   binary.NativeEndian.Uint32(b[40:44]), // inet_diag_sockid.idiag_if
		// idiag_cookie[2]: low 32 bits first (sock_diag_save_cookie)
		Cookie: uint64(binary.NativeEndian.Uint32(b[44:48])) | uint64(binary.NativeEndian.Uint32(b[48:52]))<<32,
	}
	switch sock.Family {
	case unix.AF_INET:
		sock.Local = netip.AddrFrom4([4]byte(b[8:12]))
	case unix.AF_INET6:
		sock.Local = netip.AddrFrom16([16]byte(b[8:24]))
	default:
		return fmt.Errorf("sock_diag reply: unexpected address family %d", sock.Family)
	}
	attrs := b[inetDiagMsgLen:]
	for len(attrs) >= 4 {
		alen := int(binary.NativeEndian.Uint16(attrs[0:2]))
		atype := binary.NativeEndian.Uint16(attrs[2:4]) & nlaTypeMask
		if alen < 4 || alen > len(attrs) {
			return fmt.Errorf("sock_diag reply: attribute %d has bad length %d", atype, alen)
		}
		payload := attrs[4:alen]
		switch atype {
		case attrSkMemInfo:
			if len(payload) >= (skMemInfoDrop+1)*4 {
				sock.Drops = binary.NativeEndian.Uint32(payload[skMemInfoDrop*4:])
				sock.HasDrops = true
			}
		case attrV6Only:
			if len(payload) >= 1 {
				sock.V6Only = int8(payload[0])
			}
		}
		adv := rtaAlign(alen)
		if adv >= len(attrs) {
			break
		}
		attrs = attrs[adv:]
	}
	return nil
}
