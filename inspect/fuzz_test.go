package inspect

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// fuzzDiagMsg builds one netlink message carrying an inet_diag_msg for seeds.
func fuzzDiagMsg(seq uint32, flags uint16, family, state uint8, port uint16, attrs []byte) []byte {
	body := make([]byte, inetDiagMsgLen)
	body[0], body[1] = family, state
	binary.BigEndian.PutUint16(body[4:6], port)
	binary.NativeEndian.PutUint32(body[56:60], 3)
	binary.NativeEndian.PutUint32(body[60:64], 128)
	binary.NativeEndian.PutUint32(body[68:72], 4242)
	body = append(body, attrs...)
	return nlMsg(nl.SOCK_DIAG_BY_FAMILY, flags, seq, body)
}

func nlMsg(typ, flags uint16, seq uint32, body []byte) []byte {
	h := make([]byte, nlmsgHdrLen)
	binary.NativeEndian.PutUint32(h[0:4], uint32(nlmsgHdrLen+len(body)))
	binary.NativeEndian.PutUint16(h[4:6], typ)
	binary.NativeEndian.PutUint16(h[6:8], flags)
	binary.NativeEndian.PutUint32(h[8:12], seq)
	msg := append(h, body...)
	for len(msg)%4 != 0 {
		msg = append(msg, 0)
	}
	return msg
}

func memInfoAttr(drops uint32) []byte {
	a := make([]byte, 4+9*4)
	binary.NativeEndian.PutUint16(a[0:2], uint16(len(a)))
	binary.NativeEndian.PutUint16(a[2:4], attrSkMemInfo)
	binary.NativeEndian.PutUint32(a[4+skMemInfoDrop*4:], drops)
	return a
}

// FuzzParseBatch feeds arbitrary datagrams to the sock_diag reply decoder:
// it must never panic, and every socket it accepts must be well formed.
func FuzzParseBatch(f *testing.F) {
	good := fuzzDiagMsg(7, unix.NLM_F_MULTI, unix.AF_INET, stateListen, 80, memInfoAttr(5))
	f.Add(good)
	f.Add(append(append([]byte{}, good...), nlMsg(unix.NLMSG_DONE, 0, 7, []byte{0, 0, 0, 0})...))
	f.Add(fuzzDiagMsg(7, unix.NLM_F_DUMP_INTR, unix.AF_INET6, stateSynRecv, 443, []byte{5, 0, attrV6Only, 0, 1, 0, 0, 0}))
	f.Add(nlMsg(unix.NLMSG_ERROR, 0, 7, []byte{0xf3, 0xff, 0xff, 0xff}))
	f.Add(good[:40])
	f.Add(fuzzDiagMsg(7, 0, unix.AF_INET, stateListen, 80, []byte{0xff, 0xff, 7, 0}))
	f.Add(fuzzDiagMsg(7, 0, 99, stateListen, 80, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		var sock DiagSocket
		n := 0
		done, _, err := parseBatch(b, 7, &sock, func(s *DiagSocket) {
			n++
			if s.Family != unix.AF_INET && s.Family != unix.AF_INET6 {
				t.Fatalf("visited a socket of family %d", s.Family)
			}
			if !s.Local.IsValid() {
				t.Fatalf("visited a socket without a local address")
			}
		})
		if err != nil && done {
			t.Fatalf("reported done with an error: %v", err)
		}
		// Feeding the decoded listeners on must not panic either.
		set := &listenerSet{}
		_, _, _ = parseBatch(b, 7, &sock, set.add)
		_ = set.finish()
	})
}

// FuzzDecodeDiagMsg checks the attribute walk on arbitrary bodies.
func FuzzDecodeDiagMsg(f *testing.F) {
	body := make([]byte, inetDiagMsgLen)
	body[0] = unix.AF_INET
	f.Add(append(body, memInfoAttr(3)...))
	f.Add(append(body, 8, 0, attrV6Only, 0, 1))
	f.Add(body[:10])
	f.Fuzz(func(t *testing.T, b []byte) {
		var s DiagSocket
		if err := decodeDiagMsg(b, &s); err == nil && len(b) < inetDiagMsgLen {
			t.Fatalf("accepted a %d-byte message", len(b))
		}
	})
}

// FuzzParseCounters: arbitrary /proc/net/netstat text never panics, and
// whatever it accepts round-trips through the same format.
func FuzzParseCounters(f *testing.F) {
	f.Add("TcpExt: SyncookiesSent ListenOverflows\nTcpExt: 1 2\n")
	f.Add("Tcp: RtoAlgorithm MaxConn\nTcp: 1 -1\n")
	f.Add("TcpExt: A\n")
	f.Add("TcpExt: A B\nTcpExt: 1\n")
	f.Add("TcpExt: A\nIpExt: 1\n")
	f.Add("\n\nTcpExt: A\nTcpExt: 18446744073709551615\n")
	f.Fuzz(func(t *testing.T, s string) {
		out := map[string]uint64{}
		if err := parseCounters(bytes.NewBufferString(s), out); err != nil {
			return
		}
		for name := range out {
			if name == "" {
				t.Fatalf("empty counter name from %q", s)
			}
		}
	})
}
