package inspect

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// nlmsg builds one netlink message, padded to NLMSG_ALIGNTO.
func nlmsg(typ, flags uint16, seq uint32, body []byte) []byte {
	n := nlmsgHdrLen + len(body)
	b := make([]byte, nlmAlign(n))
	binary.NativeEndian.PutUint32(b[0:4], uint32(n))
	binary.NativeEndian.PutUint16(b[4:6], typ)
	binary.NativeEndian.PutUint16(b[6:8], flags)
	binary.NativeEndian.PutUint32(b[8:12], seq)
	copy(b[nlmsgHdrLen:], body)
	return b
}

// nlattr builds one attribute, padded.
func nlattr(typ uint16, payload []byte) []byte {
	n := 4 + len(payload)
	b := make([]byte, rtaAlign(n))
	binary.NativeEndian.PutUint16(b[0:2], uint16(n))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	copy(b[4:], payload)
	return b
}

// inetDiagMsg builds a struct inet_diag_msg followed by attrs.
func inetDiagMsg(family, state uint8, local netip.AddrPort, rq, wq, uid, inode uint32, attrs ...[]byte) []byte {
	b := make([]byte, inetDiagMsgLen)
	b[0], b[1] = family, state
	binary.BigEndian.PutUint16(b[4:6], local.Port())
	if family == unix.AF_INET {
		a := local.Addr().As4()
		copy(b[8:12], a[:])
	} else {
		a := local.Addr().As16()
		copy(b[8:24], a[:])
	}
	binary.NativeEndian.PutUint32(b[56:60], rq)
	binary.NativeEndian.PutUint32(b[60:64], wq)
	binary.NativeEndian.PutUint32(b[64:68], uid)
	binary.NativeEndian.PutUint32(b[68:72], inode)
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

// meminfo is an INET_DIAG_SKMEMINFO payload of n u32s with drops at index 8.
func meminfo(n int, drops uint32) []byte {
	b := make([]byte, 4*n)
	if n > skMemInfoDrop {
		binary.NativeEndian.PutUint32(b[skMemInfoDrop*4:], drops)
	}
	return b
}

func errnoBody(errno int32) []byte {
	b := make([]byte, 4+nlmsgHdrLen)
	binary.NativeEndian.PutUint32(b[0:4], uint32(errno))
	return b
}

func concat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func TestDecodeDiagMsg(t *testing.T) {
	v4 := netip.MustParseAddrPort("10.1.2.3:443")
	v6 := netip.MustParseAddrPort("[2001:db8::1]:8443")
	tests := []struct {
		name    string
		in      []byte
		want    DiagSocket
		wantErr string
	}{
		{
			name: "ipv4 listener with drops",
			in:   inetDiagMsg(unix.AF_INET, stateListen, v4, 9, 8, 1000, 4242, nlattr(attrSkMemInfo, meminfo(9, 77))),
			want: DiagSocket{Family: unix.AF_INET, State: stateListen, LocalPort: 443, Local: v4.Addr(),
				RQueue: 9, WQueue: 8, UID: 1000, Inode: 4242, Drops: 77, HasDrops: true, V6Only: -1},
		},
		{
			name: "ipv6 dual-stack, attributes in any order, unknown ones skipped, nested flag masked",
			in: inetDiagMsg(unix.AF_INET6, stateListen, v6, 0, 4096, 0, 1,
				nlattr(attrV6Only, []byte{0}), nlattr(99, []byte{1, 2, 3}), nlattr(attrSkMemInfo|unix.NLA_F_NESTED, meminfo(10, 3))),
			want: DiagSocket{Family: unix.AF_INET6, State: stateListen, LocalPort: 8443, Local: v6.Addr(),
				WQueue: 4096, Inode: 1, Drops: 3, HasDrops: true, V6Only: 0},
		},
		{
			name: "bound to a device",
			in: func() []byte {
				b := inetDiagMsg(unix.AF_INET, stateListen, v4, 0, 8, 0, 6)
				binary.NativeEndian.PutUint32(b[40:44], 3)
				return b
			}(),
			want: DiagSocket{Family: unix.AF_INET, State: stateListen, LocalPort: 443, Local: v4.Addr(), WQueue: 8, Inode: 6, V6Only: -1, IfIndex: 3},
		},
		{
			name: "socket cookie, low half first",
			in: func() []byte {
				b := inetDiagMsg(unix.AF_INET, stateListen, v4, 0, 8, 0, 6)
				binary.NativeEndian.PutUint32(b[44:48], 0x89abcdef)
				binary.NativeEndian.PutUint32(b[48:52], 0x01234567)
				return b
			}(),
			want: DiagSocket{Family: unix.AF_INET, State: stateListen, LocalPort: 443, Local: v4.Addr(), WQueue: 8, Inode: 6, V6Only: -1, Cookie: 0x0123456789abcdef},
		},
		{
			name: "meminfo before 4.7 (8 fields): no drops",
			in:   inetDiagMsg(unix.AF_INET, stateListen, v4, 0, 128, 0, 5, nlattr(attrSkMemInfo, meminfo(8, 0))),
			want: DiagSocket{Family: unix.AF_INET, State: stateListen, LocalPort: 443, Local: v4.Addr(), WQueue: 128, Inode: 5, V6Only: -1},
		},
		{
			name: "request socket, no attributes",
			in:   inetDiagMsg(unix.AF_INET6, stateSynRecv, netip.MustParseAddrPort("[::ffff:127.0.0.1]:80"), 0, 0, 0, 0),
			want: DiagSocket{Family: unix.AF_INET6, State: stateSynRecv, LocalPort: 80, Local: netip.MustParseAddr("::ffff:127.0.0.1"), V6Only: -1},
		},
		{
			name: "trailing bytes shorter than an attribute header are ignored",
			in:   append(inetDiagMsg(unix.AF_INET, stateListen, v4, 1, 2, 3, 4), 0, 0),
			want: DiagSocket{Family: unix.AF_INET, State: stateListen, LocalPort: 443, Local: v4.Addr(), RQueue: 1, WQueue: 2, UID: 3, Inode: 4, V6Only: -1},
		},
		{name: "truncated", in: inetDiagMsg(unix.AF_INET, stateListen, v4, 0, 0, 0, 0)[:71], wantErr: "message of 71 bytes, want at least 72"},
		{name: "bad family", in: inetDiagMsg(unix.AF_UNIX, stateListen, v4, 0, 0, 0, 0), wantErr: "unexpected address family 1"},
		{
			name: "attribute longer than the message",
			in: func() []byte {
				b := inetDiagMsg(unix.AF_INET, stateListen, v4, 0, 0, 0, 0, nlattr(attrSkMemInfo, meminfo(9, 1)))
				return b[:len(b)-8]
			}(),
			wantErr: "attribute 7 has bad length 40",
		},
		{
			name:    "attribute length below its header",
			in:      inetDiagMsg(unix.AF_INET, stateListen, v4, 0, 0, 0, 0, []byte{2, 0, 7, 0}),
			wantErr: "attribute 7 has bad length 2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got DiagSocket
			err := decodeDiagMsg(tt.in, &got)
			if !wantErr(t, err, tt.wantErr) {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseBatch(t *testing.T) {
	const seq = 7
	lst := inetDiagMsg(unix.AF_INET, stateListen, netip.MustParseAddrPort("127.0.0.1:80"), 0, 8, 0, 11)
	tests := []struct {
		name         string
		in           []byte
		wantInodes   []uint32
		wantDone     bool
		wantIntr     bool
		wantErr      string
		wantErrnoErr error
	}{
		{
			name:       "two sockets then done",
			in:         concat(nlmsg(nl.SOCK_DIAG_BY_FAMILY, unix.NLM_F_MULTI, seq, lst), nlmsg(nl.SOCK_DIAG_BY_FAMILY, unix.NLM_F_MULTI, seq, lst), nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, seq, make([]byte, 4))),
			wantInodes: []uint32{11, 11}, wantDone: true,
		},
		{
			name:       "batch without done: more to read",
			in:         nlmsg(nl.SOCK_DIAG_BY_FAMILY, unix.NLM_F_MULTI, seq, lst),
			wantInodes: []uint32{11},
		},
		{
			name:       "another sequence number is ignored, done included",
			in:         concat(nlmsg(nl.SOCK_DIAG_BY_FAMILY, 0, seq-1, lst), nlmsg(unix.NLMSG_DONE, 0, seq-1, make([]byte, 4))),
			wantInodes: nil,
		},
		{
			name:       "dump interrupted",
			in:         concat(nlmsg(nl.SOCK_DIAG_BY_FAMILY, unix.NLM_F_MULTI|unix.NLM_F_DUMP_INTR, seq, lst), nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, seq, make([]byte, 4))),
			wantInodes: []uint32{11}, wantDone: true, wantIntr: true,
		},
		{
			name:         "NLMSG_ERROR",
			in:           nlmsg(unix.NLMSG_ERROR, 0, seq, errnoBody(-int32(unix.EPERM))),
			wantErrnoErr: syscall.EPERM,
		},
		{
			name:     "NLMSG_ERROR 0 is an ack",
			in:       nlmsg(unix.NLMSG_ERROR, 0, seq, errnoBody(0)),
			wantDone: true,
		},
		{name: "short NLMSG_ERROR", in: nlmsg(unix.NLMSG_ERROR, 0, seq, []byte{1, 0}), wantErr: "short error message"},
		{
			name:         "NLMSG_DONE carrying the dump's error",
			in:           concat(nlmsg(nl.SOCK_DIAG_BY_FAMILY, unix.NLM_F_MULTI, seq, lst), nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, seq, errnoBody(-int32(unix.ENOMEM))[:4])),
			wantInodes:   []uint32{11},
			wantErrnoErr: syscall.ENOMEM,
		},
		{
			name:    "message length beyond the datagram",
			in:      nlmsg(nl.SOCK_DIAG_BY_FAMILY, 0, seq, lst)[:40],
			wantErr: "bad message length 88",
		},
		{
			name:    "message length below the header",
			in:      func() []byte { b := nlmsg(unix.NLMSG_DONE, 0, seq, nil); binary.NativeEndian.PutUint32(b, 8); return b }(),
			wantErr: "bad message length 8",
		},
		{
			name:       "truncated inet_diag_msg",
			in:         nlmsg(nl.SOCK_DIAG_BY_FAMILY, 0, seq, lst[:60]),
			wantErr:    "message of 60 bytes",
			wantInodes: nil,
		},
		{name: "short tail ignored", in: []byte{1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sock DiagSocket
			var inodes []uint32
			done, intr, err := parseBatch(tt.in, seq, &sock, func(d *DiagSocket) { inodes = append(inodes, d.Inode) })
			switch {
			case tt.wantErrnoErr != nil:
				if !errors.Is(err, tt.wantErrnoErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErrnoErr)
				}
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			}
			if err == nil && (done != tt.wantDone || intr != tt.wantIntr) {
				t.Errorf("done %v interrupted %v, want %v %v", done, intr, tt.wantDone, tt.wantIntr)
			}
			if diff := cmp.Diff(tt.wantInodes, inodes); diff != "" {
				t.Errorf("visited inodes (-want +got):\n%s", diff)
			}
		})
	}
}

// fakeKernel answers a Dumper's requests on the other end of a SOCK_SEQPACKET
// socketpair (which ignores sendto's netlink address): for each request it
// sends the replies reply(attempt, seq) returns, one datagram each.
func fakeKernel(t *testing.T, retries int, reply func(attempt int, seq uint32) [][]byte) (*Dumper, *atomic.Int32) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	attempts := new(atomic.Int32)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := unix.Read(fds[1], buf)
			if err != nil || n == 0 {
				return
			}
			if n < nlmsgHdrLen+inetDiagReqLen {
				t.Errorf("request of %d bytes", n)
				return
			}
			seq := binary.NativeEndian.Uint32(buf[8:12])
			attempt := int(attempts.Add(1)) - 1
			for _, d := range reply(attempt, seq) {
				if _, err := unix.Write(fds[1], d); err != nil {
					t.Errorf("fake kernel write: %v", err)
					return
				}
			}
		}
	}()
	t.Cleanup(func() {
		unix.Close(fds[0])
		unix.Shutdown(fds[1], unix.SHUT_RDWR)
		<-done
		unix.Close(fds[1])
	})
	return &Dumper{fd: fds[0], buf: make([]byte, 1<<16), Retries: retries}, attempts
}

func TestDumpRetriesInterrupted(t *testing.T) {
	listener := func(inode uint32) []byte {
		return inetDiagMsg(unix.AF_INET, stateListen, netip.MustParseAddrPort("127.0.0.1:80"), 0, 8, 0, inode)
	}
	t.Run("interrupted every time", func(t *testing.T) {
		d, attempts := fakeKernel(t, 2, func(attempt int, seq uint32) [][]byte {
			return [][]byte{
				nlmsg(nl.SOCK_DIAG_BY_FAMILY, unix.NLM_F_MULTI|unix.NLM_F_DUMP_INTR, seq, listener(uint32(attempt))),
				nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, seq, make([]byte, 4)),
			}
		})
		resets := 0
		err := d.Dump(unix.AF_INET, 1<<stateListen, func(*DiagSocket) {}, func() { resets++ })
		if !errors.Is(err, ErrDumpInterrupted) {
			t.Fatalf("err = %v, want ErrDumpInterrupted", err)
		}
		if attempts.Load() != 3 || resets != 2 {
			t.Errorf("%d attempts and %d resets, want 3 and 2 (Retries 2)", attempts.Load(), resets)
		}
	})
	t.Run("second attempt clean", func(t *testing.T) {
		d, attempts := fakeKernel(t, 3, func(attempt int, seq uint32) [][]byte {
			flags := uint16(unix.NLM_F_MULTI)
			if attempt == 0 {
				flags |= unix.NLM_F_DUMP_INTR
			}
			// Two datagrams per dump, as the kernel sends when a batch is full.
			return [][]byte{
				nlmsg(nl.SOCK_DIAG_BY_FAMILY, flags, seq, listener(uint32(100+attempt))),
				concat(nlmsg(nl.SOCK_DIAG_BY_FAMILY, unix.NLM_F_MULTI, seq, listener(uint32(200+attempt))),
					nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, seq, make([]byte, 4))),
			}
		})
		var inodes []uint32
		err := d.Dump(unix.AF_INET, 1<<stateListen, func(s *DiagSocket) { inodes = append(inodes, s.Inode) }, func() { inodes = nil })
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]uint32{101, 201}, inodes); diff != "" {
			t.Errorf("inodes after the retry (-want +got):\n%s", diff)
		}
		if attempts.Load() != 2 {
			t.Errorf("%d attempts, want 2", attempts.Load())
		}
	})
	t.Run("kernel error is not retried", func(t *testing.T) {
		d, attempts := fakeKernel(t, 3, func(_ int, seq uint32) [][]byte {
			return [][]byte{nlmsg(unix.NLMSG_ERROR, 0, seq, errnoBody(-int32(unix.EACCES)))}
		})
		err := d.Dump(unix.AF_INET, 1<<stateListen, func(*DiagSocket) {}, nil)
		if !errors.Is(err, syscall.EACCES) || attempts.Load() != 1 {
			t.Errorf("err = %v after %d attempts, want EACCES after 1", err, attempts.Load())
		}
	})
}
