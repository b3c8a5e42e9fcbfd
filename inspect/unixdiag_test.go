package inspect

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/model"
)

// unixDiagMsg builds a struct unix_diag_msg followed by attrs.
func unixDiagMsg(typ, state uint8, inode uint32, cookie uint64, attrs ...[]byte) []byte {
	b := make([]byte, unixDiagMsgLen)
	b[0], b[1], b[2] = unix.AF_UNIX, typ, state
	binary.NativeEndian.PutUint32(b[4:8], inode)
	binary.NativeEndian.PutUint32(b[8:12], uint32(cookie))
	binary.NativeEndian.PutUint32(b[12:16], uint32(cookie>>32))
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

func u32s(vs ...uint32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.NativeEndian.PutUint32(b[4*i:], v)
	}
	return b
}

func TestDecodeUnixDiagMsg(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    UnixDiagSocket
		wantErr string
	}{
		{
			name: "path listener: name with its NUL, queue and backlog, uid, vfs",
			in: unixDiagMsg(unix.SOCK_STREAM, stateListen, 4242, 0x0123456789abcdef,
				nlattr(unixDiagName, []byte("/run/php/php8.2-fpm.sock\x00")),
				nlattr(unixDiagVFS, u32s(77, 0x803)),
				nlattr(unixDiagRQLen, u32s(9, 8)),
				nlattr(unixDiagUID, u32s(33))),
			want: UnixDiagSocket{Type: unix.SOCK_STREAM, State: stateListen, Inode: 4242, Cookie: 0x0123456789abcdef,
				Name: "/run/php/php8.2-fpm.sock", VFSInode: 77, VFSDev: 0x803, HasVFS: true,
				RQueue: 9, WQueue: 8, HasRQLen: true, UID: 33, HasUID: true, Pending: []uint32{}},
		},
		{
			name: "abstract seqpacket listener: NULs written @ as ss does, attributes in any order, unknown skipped",
			in: unixDiagMsg(unix.SOCK_SEQPACKET, stateListen, 7, 1,
				nlattr(99, []byte{1, 2, 3}),
				nlattr(unixDiagRQLen|unix.NLA_F_NESTED, u32s(0, 4096)),
				nlattr(unixDiagName, []byte("\x00my\x00app"))),
			want: UnixDiagSocket{Type: unix.SOCK_SEQPACKET, State: stateListen, Inode: 7, Cookie: 1,
				Name: "@my@app", WQueue: 4096, HasRQLen: true, Pending: []uint32{}},
		},
		{
			name: "pending connections and a peer",
			in: unixDiagMsg(unix.SOCK_STREAM, stateListen, 8, 0,
				nlattr(unixDiagIcons, u32s(100, 0, 102)),
				nlattr(unixDiagPeer, u32s(55))),
			want: UnixDiagSocket{Type: unix.SOCK_STREAM, State: stateListen, Inode: 8, Pending: []uint32{100, 0, 102}, Peer: 55},
		},
		{
			name: "short rqlen and vfs payloads are ignored",
			in: unixDiagMsg(unix.SOCK_STREAM, stateListen, 9, 0,
				nlattr(unixDiagRQLen, u32s(1)), nlattr(unixDiagVFS, u32s(1))),
			want: UnixDiagSocket{Type: unix.SOCK_STREAM, State: stateListen, Inode: 9, Pending: []uint32{}},
		},
		{name: "short message", in: make([]byte, unixDiagMsgLen-1), wantErr: "message of 15 bytes"},
		{name: "wrong family", in: func() []byte { b := unixDiagMsg(1, stateListen, 1, 0); b[0] = unix.AF_INET; return b }(), wantErr: "unexpected address family 2"},
		{
			name:    "attribute longer than the message",
			in:      append(unixDiagMsg(unix.SOCK_STREAM, stateListen, 1, 0), 0xff, 0, unixDiagName, 0),
			wantErr: "bad length 255",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := UnixDiagSocket{Pending: make([]uint32, 0, 4)}
			err := decodeUnixDiagMsg(tt.in, &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnixDiagRequestBytes(t *testing.T) {
	got := (&unixDiagRequest{states: 1 << stateListen, show: unixListenerShow}).Serialize()
	want := make([]byte, unixDiagReqLen)
	want[0] = unix.AF_UNIX
	binary.NativeEndian.PutUint32(want[4:], 1<<10)
	binary.NativeEndian.PutUint32(want[12:], 0x01|0x02|0x08|0x10|0x40) // name, vfs, icons, rqlen, uid
	binary.NativeEndian.PutUint32(want[16:], nl.TCPDIAG_NOCOOKIE)
	binary.NativeEndian.PutUint32(want[20:], nl.TCPDIAG_NOCOOKIE)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unix_diag_req (-want +got):\n%s", diff)
	}
}

// A dump of several datagrams: listeners kept and sorted by path, type
// and inode; connected sockets and filtered paths left out; the model.Listener
// shape of a Unix socket.
func TestUnixListenerSet(t *testing.T) {
	const seq = 5
	msg := func(body []byte) []byte { return nlmsg(nl.SOCK_DIAG_BY_FAMILY, unix.NLM_F_MULTI, seq, body) }
	listener := func(typ uint8, inode uint32, name string, rq, wq uint32) []byte {
		return msg(unixDiagMsg(typ, stateListen, inode, uint64(inode)<<32|1,
			nlattr(unixDiagName, []byte(name)), nlattr(unixDiagRQLen, u32s(rq, wq)), nlattr(unixDiagUID, u32s(1000))))
	}
	batches := [][]byte{
		concat(listener(unix.SOCK_STREAM, 30, "/run/php/b.sock\x00", 0, 511),
			msg(unixDiagMsg(unix.SOCK_STREAM, 1 /* TCP_ESTABLISHED */, 31, 0, nlattr(unixDiagName, []byte("/run/php/b.sock\x00")))),
			listener(unix.SOCK_SEQPACKET, 20, "/run/php/a.sock\x00", 2, 8)),
		concat(listener(unix.SOCK_STREAM, 10, "/run/php/a.sock\x00", 9, 8),
			listener(unix.SOCK_STREAM, 40, "\x00abstract", 0, 4096),
			listener(unix.SOCK_STREAM, 50, "/var/run/other.sock\x00", 0, 5)),
		nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, seq, u32s(0)),
	}
	decode := func(paths []string) []model.Listener {
		set := &unixListenerSet{paths: paths}
		handle := decodeEach(decodeUnixDiagMsg, new(UnixDiagSocket), set.add)
		for i, b := range batches {
			done, _, err := parseMessages(b, seq, handle)
			if err != nil {
				t.Fatal(err)
			}
			if done != (i == len(batches)-1) {
				t.Fatalf("batch %d: done = %v", i, done)
			}
		}
		return set.finish()
	}
	got := decode(nil)
	want := []model.Listener{
		{Family: "unix", Path: "/run/php/a.sock", SocketType: "seqpacket", AcceptQueue: 2, AcceptQueueMax: 8, Fill: model.Fill(2, 8), Inode: 20, Cookie: 20<<32 | 1, UID: 1000, Processes: []model.Process{}},
		{Family: "unix", Path: "/run/php/a.sock", SocketType: "stream", AcceptQueue: 9, AcceptQueueMax: 8, Fill: 1, Inode: 10, Cookie: 10<<32 | 1, UID: 1000, Processes: []model.Process{}},
		{Family: "unix", Path: "/run/php/b.sock", SocketType: "stream", AcceptQueueMax: 511, Inode: 30, Cookie: 30<<32 | 1, UID: 1000, Processes: []model.Process{}},
		{Family: "unix", Path: "/var/run/other.sock", SocketType: "stream", AcceptQueueMax: 5, Inode: 50, Cookie: 50<<32 | 1, UID: 1000, Processes: []model.Process{}},
		{Family: "unix", Path: "@abstract", SocketType: "stream", AcceptQueueMax: 4096, Inode: 40, Cookie: 40<<32 | 1, UID: 1000, Processes: []model.Process{}},
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("listeners (-want +got):\n%s", diff)
	}
	if got[1].Endpoint() != "/run/php/a.sock" || !got[1].IsUnix() {
		t.Errorf("Endpoint() = %q, IsUnix() = %v", got[1].Endpoint(), got[1].IsUnix())
	}

	filtered := decode([]string{"/run/php/*.sock", "@abstract"})
	var names []string
	for _, l := range filtered {
		names = append(names, l.Path)
	}
	if diff := cmp.Diff([]string{"/run/php/a.sock", "/run/php/a.sock", "/run/php/b.sock", "@abstract"}, names); diff != "" {
		t.Errorf("filtered by /run/php/*.sock and @abstract (-want +got):\n%s", diff)
	}
}

// FuzzDecodeUnixDiagMsg feeds arbitrary unix_diag replies to the decoder:
// it must never panic, and a socket it accepts keeps its queue and
// backlog only when the kernel sent them.
func FuzzDecodeUnixDiagMsg(f *testing.F) {
	f.Add(unixDiagMsg(unix.SOCK_STREAM, stateListen, 4242, 1,
		nlattr(unixDiagName, []byte("/run/php/php8.2-fpm.sock\x00")), nlattr(unixDiagRQLen, u32s(9, 8)), nlattr(unixDiagUID, u32s(33))))
	f.Add(unixDiagMsg(unix.SOCK_SEQPACKET, stateListen, 7, 0, nlattr(unixDiagName, []byte("\x00a\x00b")), nlattr(unixDiagIcons, u32s(1, 2, 3))))
	f.Add(append(unixDiagMsg(unix.SOCK_STREAM, stateListen, 1, 0), 0xff, 0, unixDiagName, 0))
	f.Add([]byte{unix.AF_UNIX})
	f.Fuzz(func(t *testing.T, b []byte) {
		var sock UnixDiagSocket
		if err := decodeUnixDiagMsg(b, &sock); err != nil {
			return
		}
		if !sock.HasRQLen && (sock.RQueue != 0 || sock.WQueue != 0) {
			t.Fatalf("queue %d/%d without UNIX_DIAG_RQLEN", sock.RQueue, sock.WQueue)
		}
		set := &unixListenerSet{}
		set.add(&sock)
		for _, l := range set.finish() {
			if l.Family != "unix" || l.Path != sock.Name {
				t.Fatalf("listener %+v from %+v", l, sock)
			}
		}
	})
}
