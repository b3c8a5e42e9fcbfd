package inspect

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// unix_diag request flags and reply attributes (include/uapi/linux/unix_diag.h).
const (
	udiagShowName  = 0x01 // UDIAG_SHOW_NAME: the bound path or abstract name
	udiagShowVFS   = 0x02 // UDIAG_SHOW_VFS: the inode and device of the socket file
	udiagShowPeer  = 0x04 // UDIAG_SHOW_PEER
	udiagShowIcons = 0x08 // UDIAG_SHOW_ICONS: the peers of a listener's pending connections
	udiagShowRQLen = 0x10 // UDIAG_SHOW_RQLEN: for a listener, queue length and backlog
	udiagShowUID   = 0x40 // UDIAG_SHOW_UID, since 5.3

	unixDiagName  = 0 // UNIX_DIAG_NAME
	unixDiagVFS   = 1 // UNIX_DIAG_VFS
	unixDiagPeer  = 2 // UNIX_DIAG_PEER
	unixDiagIcons = 3 // UNIX_DIAG_ICONS
	unixDiagRQLen = 4 // UNIX_DIAG_RQLEN
	unixDiagUID   = 7 // UNIX_DIAG_UID

	unixDiagReqLen = 24 // sizeof(struct unix_diag_req)
	unixDiagMsgLen = 16 // sizeof(struct unix_diag_msg)
)

// UnixDiagSocket is one AF_UNIX socket from a unix_diag reply.
type UnixDiagSocket struct {
	// Type is SOCK_STREAM or SOCK_SEQPACKET (SOCK_DGRAM never listens).
	Type  uint8
	State uint8
	Inode uint32
	// Cookie is the socket cookie (sock_diag_save_cookie).
	Cookie uint64
	// Name is the bound path, or an abstract name written as ss(8) does:
	// "@" for the leading NUL, and any other NUL as "@". Empty when unbound
	// or not asked for.
	Name string
	// VFSInode and VFSDev identify the socket file a path name was bound
	// to (unix_diag_vfs), when HasVFS: what stat(2) of the path returns
	// while the path still leads to this socket.
	VFSInode, VFSDev uint32
	HasVFS           bool
	// RQueue and WQueue are, for a listener, the accept-queue length
	// (sk_receive_queue's length) and the effective backlog
	// (sk_max_ack_backlog) (sk_diag_show_rqlen); valid when HasRQLen.
	RQueue, WQueue uint32
	HasRQLen       bool
	// Peer is the connected peer's inode, 0 for a listener.
	Peer uint32
	// Pending holds, for a listener asked with UDIAG_SHOW_ICONS, the
	// inodes of the client sockets whose connections wait in its queue
	// (0 for one whose client has gone). It is reused between sockets.
	Pending []uint32
	UID     uint32
	HasUID  bool
}

// unixDiagRequest is struct unix_diag_req: family, protocol, pad, states,
// ino (0: any), show, cookie (INET_DIAG_NOCOOKIE: any).
type unixDiagRequest struct {
	states uint32
	show   uint32
}

func (r *unixDiagRequest) Len() int { return unixDiagReqLen }

func (r *unixDiagRequest) Serialize() []byte {
	b := make([]byte, unixDiagReqLen)
	b[0] = unix.AF_UNIX
	binary.NativeEndian.PutUint32(b[4:8], r.states)
	binary.NativeEndian.PutUint32(b[12:16], r.show)
	binary.NativeEndian.PutUint32(b[16:20], nl.TCPDIAG_NOCOOKIE)
	binary.NativeEndian.PutUint32(b[20:24], nl.TCPDIAG_NOCOOKIE)
	return b
}

// DumpUnix asks the kernel for the AF_UNIX sockets in the given states (a
// bitmask of 1<<state, TCP numbering: listeners are 1<<10) of the Dumper's
// network namespace and calls visit for each; show is a UDIAG_SHOW_* mask.
// An interrupted dump is retried up to Retries times, calling reset first.
// A kernel without unix_diag (CONFIG_UNIX_DIAG) answers ENOENT.
func (d *Dumper) DumpUnix(states, show uint32, visit func(*UnixDiagSocket), reset func()) error {
	if d.replay != nil {
		return d.replay.dumpUnix(states, show, visit)
	}
	if rec := recorderFromEnv(); rec != nil {
		var recReset func()
		var done func() error
		visit, recReset, done = rec.recordUnix(show, visit)
		if err := d.dumpUnix(states, show, visit, chain(recReset, reset)); err != nil {
			return err
		}
		return done()
	}
	return d.dumpUnix(states, show, visit, reset)
}

// dumpUnix is DumpUnix from the kernel.
func (d *Dumper) dumpUnix(states, show uint32, visit func(*UnixDiagSocket), reset func()) error {
	return d.retry(reset, func() error {
		req := nl.NewNetlinkRequest(nl.SOCK_DIAG_BY_FAMILY, unix.NLM_F_DUMP)
		req.AddData(&unixDiagRequest{states: states, show: show})
		return d.run(req, decodeEach(decodeUnixDiagMsg, new(UnixDiagSocket), visit))
	})
}

// decodeUnixDiagMsg fills sock from a struct unix_diag_msg and its
// attributes, keeping sock.Pending's array.
func decodeUnixDiagMsg(b []byte, sock *UnixDiagSocket) error {
	if len(b) < unixDiagMsgLen {
		return fmt.Errorf("unix_diag reply: message of %d bytes, want at least %d", len(b), unixDiagMsgLen)
	}
	if b[0] != unix.AF_UNIX {
		return fmt.Errorf("unix_diag reply: unexpected address family %d", b[0])
	}
	*sock = UnixDiagSocket{
		Type:  b[1],
		State: b[2],
		Inode: binary.NativeEndian.Uint32(b[4:8]),
		// udiag_cookie[2]: low 32 bits first (sock_diag_save_cookie)
		Cookie:  uint64(binary.NativeEndian.Uint32(b[8:12])) | uint64(binary.NativeEndian.Uint32(b[12:16]))<<32,
		Pending: sock.Pending[:0],
	}
	attrs := b[unixDiagMsgLen:]
	for len(attrs) >= 4 {
		alen := int(binary.NativeEndian.Uint16(attrs[0:2]))
		atype := binary.NativeEndian.Uint16(attrs[2:4]) & nlaTypeMask
		if alen < 4 || alen > len(attrs) {
			return fmt.Errorf("unix_diag reply: attribute %d has bad length %d", atype, alen)
		}
		payload := attrs[4:alen]
		switch atype {
		case unixDiagName:
			sock.Name = UnixName(payload)
		case unixDiagVFS:
			if len(payload) >= 8 {
				sock.VFSInode = binary.NativeEndian.Uint32(payload[0:4])
				sock.VFSDev = binary.NativeEndian.Uint32(payload[4:8])
				sock.HasVFS = true
			}
		case unixDiagPeer:
			if len(payload) >= 4 {
				sock.Peer = binary.NativeEndian.Uint32(payload[0:4])
			}
		case unixDiagIcons:
			for p := payload; len(p) >= 4; p = p[4:] {
				sock.Pending = append(sock.Pending, binary.NativeEndian.Uint32(p[0:4]))
			}
		case unixDiagRQLen:
			if len(payload) >= 8 {
				sock.RQueue = binary.NativeEndian.Uint32(payload[0:4])
				sock.WQueue = binary.NativeEndian.Uint32(payload[4:8])
				sock.HasRQLen = true
			}
		case unixDiagUID:
			if len(payload) >= 4 {
				sock.UID = binary.NativeEndian.Uint32(payload[0:4])
				sock.HasUID = true
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

// UnixName is a Unix socket address's sun_path bytes (a UNIX_DIAG_NAME
// payload: addr->len bytes of it) as text: a path up to its terminating
// NUL; an abstract name (leading NUL) whole, its NULs written "@" as ss(8)
// does.
func UnixName(p []byte) string {
	if len(p) == 0 {
		return ""
	}
	if p[0] != 0 {
		if i := strings.IndexByte(string(p), 0); i >= 0 {
			p = p[:i]
		}
		return string(p)
	}
	b := []byte(string(p))
	for i, c := range b {
		if c == 0 {
			b[i] = '@'
		}
	}
	return string(b)
}

// UnixTypeName names a Unix socket type as inspect reports it: "stream",
// "seqpacket", "dgram".
func UnixTypeName(t uint8) string {
	switch t {
	case unix.SOCK_STREAM:
		return "stream"
	case unix.SOCK_SEQPACKET:
		return "seqpacket"
	case unix.SOCK_DGRAM:
		return "dgram"
	}
	return fmt.Sprintf("type%d", t)
}
