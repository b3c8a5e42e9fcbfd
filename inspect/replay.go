package inspect

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// Fixture variables for sock_diag, beside the roots' (BACKLOGCTL_PROC_ROOT
// ...): golden tests run whole commands on a recorded dump instead of the
// kernel's, and a run with the record variable set writes what the kernel
// answered, in the same format, to make such a recording.
const (
	// EnvSockDiagReplay names a recording NewDumper replays: the n-th dump
	// of the process gets the n-th recorded one (the last, once they run
	// out), whatever namespace it is asked in.
	EnvSockDiagReplay = "BACKLOGCTL_SOCKDIAG_REPLAY"
	// EnvSockDiagRecord names a file every dump of the process is appended
	// to, rewritten after each.
	EnvSockDiagRecord = "BACKLOGCTL_SOCKDIAG_RECORD"
)

// Recording is a sequence of sock_diag dumps, each the sockets the kernel
// returned for a request of listening and SYN-RECV sockets with their
// memory info.
type Recording struct {
	Dumps [][]RecordedSocket `json:"dumps"`
}

// RecordedSocket is one DiagSocket, or a Unix listener's UnixDiagSocket,
// of a Recording.
type RecordedSocket struct {
	// Family is "ipv4", "ipv6" or "unix"; State "listen" or "syn-recv".
	Family  string `json:"family"`
	State   string `json:"state"`
	Address string `json:"address"`
	Port    uint16 `json:"port"`
	Inode   uint32 `json:"inode,omitempty"`
	UID     uint32 `json:"uid,omitempty"`
	RQueue  uint32 `json:"rqueue,omitempty"`
	WQueue  uint32 `json:"wqueue,omitempty"`
	// Drops is SK_MEMINFO_DROPS, absent when the kernel did not send it.
	Drops *uint32 `json:"drops,omitempty"`
	// V6Only is INET_DIAG_SKV6ONLY, absent when the kernel did not send it.
	V6Only  *bool  `json:"v6only,omitempty"`
	IfIndex uint32 `json:"ifindex,omitempty"`
	Cookie  uint64 `json:"cookie,omitempty"`
	// Path and Type are a Unix listener's name and "stream" or "seqpacket".
	Path string `json:"path,omitempty"`
	Type string `json:"type,omitempty"`
}

// replayer serves a Recording's dumps in order to every Dumper of the process.
type replayer struct {
	mu   sync.Mutex
	rec  Recording
	next int
}

// recorder appends every dump to a file.
type recorder struct {
	mu   sync.Mutex
	path string
	rec  Recording
}

var (
	replayOnce sync.Once
	replaying  *replayer
	replayErr  error
	recordOnce sync.Once
	recording  *recorder
)

// replayFromEnv loads EnvSockDiagReplay's recording once; nil when unset.
func replayFromEnv() (*replayer, error) {
	replayOnce.Do(func() {
		path := os.Getenv(EnvSockDiagReplay)
		if path == "" {
			return
		}
		b, err := os.ReadFile(path)
		if err != nil {
			replayErr = fmt.Errorf("%s: %w", EnvSockDiagReplay, err)
			return
		}
		r := &replayer{}
		if err := json.Unmarshal(b, &r.rec); err != nil {
			replayErr = fmt.Errorf("%s: %s: %w", EnvSockDiagReplay, path, err)
			return
		}
		if len(r.rec.Dumps) == 0 {
			replayErr = fmt.Errorf("%s: %s holds no dump", EnvSockDiagReplay, path)
			return
		}
		replaying = r
	})
	return replaying, replayErr
}

// recorderFromEnv is EnvSockDiagRecord's recorder; nil when unset.
func recorderFromEnv() *recorder {
	recordOnce.Do(func() {
		if path := os.Getenv(EnvSockDiagRecord); path != "" {
			recording = &recorder{path: path}
		}
	})
	return recording
}

// dump visits the next recorded dump's sockets that the request asks for:
// states (a mask of 1<<state) and, without ext's memory info, no drops.
func (r *replayer) dump(states uint32, ext uint8, visit func(*DiagSocket)) error {
	r.mu.Lock()
	socks := r.rec.Dumps[min(r.next, len(r.rec.Dumps)-1)]
	r.next++
	r.mu.Unlock()
	for _, rs := range socks {
		if rs.Family == "unix" {
			continue // for DumpUnix
		}
		d, err := rs.diagSocket()
		if err != nil {
			return err
		}
		if states&(1<<d.State) == 0 {
			continue
		}
		if ext&extMemInfo == 0 {
			d.Drops, d.HasDrops = 0, false
		}
		visit(&d)
	}
	return nil
}

func (rs RecordedSocket) diagSocket() (DiagSocket, error) {
	d := DiagSocket{LocalPort: rs.Port, Inode: rs.Inode, UID: rs.UID, RQueue: rs.RQueue, WQueue: rs.WQueue,
		V6Only: -1, IfIndex: rs.IfIndex, Cookie: rs.Cookie}
	switch rs.Family {
	case "ipv4":
		d.Family = unix.AF_INET
	case "ipv6":
		d.Family = unix.AF_INET6
	default:
		return d, fmt.Errorf("recorded socket %d: family %q, want ipv4 or ipv6", rs.Inode, rs.Family)
	}
	switch rs.State {
	case "listen":
		d.State = stateListen
	case "syn-recv":
		d.State = stateSynRecv
	default:
		return d, fmt.Errorf("recorded socket %d: state %q, want listen or syn-recv", rs.Inode, rs.State)
	}
	a, err := netip.ParseAddr(rs.Address)
	if err != nil {
		return d, fmt.Errorf("recorded socket %d: %w", rs.Inode, err)
	}
	if d.Family == unix.AF_INET6 {
		a = netip.AddrFrom16(a.As16())
	}
	d.Local = a
	if rs.Drops != nil {
		d.Drops, d.HasDrops = *rs.Drops, true
	}
	if rs.V6Only != nil {
		d.V6Only = 0
		if *rs.V6Only {
			d.V6Only = 1
		}
	}
	return d, nil
}

func recordedSocket(d *DiagSocket) RecordedSocket {
	rs := RecordedSocket{Family: familyName(d.Family), State: "listen", Address: d.Local.String(), Port: d.LocalPort,
		Inode: d.Inode, UID: d.UID, RQueue: d.RQueue, WQueue: d.WQueue, IfIndex: d.IfIndex, Cookie: d.Cookie}
	if d.State == stateSynRecv {
		rs.State = "syn-recv"
	}
	if d.Family == unix.AF_INET6 {
		rs.Address = netip.AddrFrom16(d.Local.As16()).String()
	}
	if d.HasDrops {
		drops := d.Drops
		rs.Drops = &drops
	}
	if d.V6Only >= 0 {
		v6only := d.V6Only == 1
		rs.V6Only = &v6only
	}
	return rs
}

// record wraps visit to keep what it is given; done appends the dump to
// the file.
func (r *recorder) record(visit func(*DiagSocket)) (func(*DiagSocket), func(), func() error) {
	var dump []RecordedSocket
	wrapped := func(d *DiagSocket) {
		dump = append(dump, recordedSocket(d))
		visit(d)
	}
	reset := func() { dump = dump[:0] }
	done := func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.rec.Dumps = append(r.rec.Dumps, append([]RecordedSocket{}, dump...))
		return r.write()
	}
	return wrapped, reset, done
}

// write rewrites the recording's file; r.mu is held.
func (r *recorder) write() error {
	b, err := json.MarshalIndent(r.rec, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(r.path, append(b, '\n'), 0o644)
}

// A recording's Unix listeners are kept in the dumps beside the TCP
// sockets: a Unix dump replays those of the last TCP dump served (the
// first, before any), without advancing, since a sample may dump Unix
// listeners more than once; recording, it replaces them in the last dump.

// dumpUnix visits the Unix listeners of the last dump served.
func (r *replayer) dumpUnix(states, show uint32, visit func(*UnixDiagSocket)) error {
	r.mu.Lock()
	socks := r.rec.Dumps[min(max(r.next-1, 0), len(r.rec.Dumps)-1)]
	r.mu.Unlock()
	for _, rs := range socks {
		if rs.Family != "unix" {
			continue
		}
		if rs.State != "listen" {
			return fmt.Errorf("recorded unix socket %d: state %q, want listen", rs.Inode, rs.State)
		}
		if states&(1<<stateListen) == 0 {
			continue
		}
		u := UnixDiagSocket{State: stateListen, Inode: rs.Inode, Cookie: rs.Cookie}
		switch rs.Type {
		case "stream":
			u.Type = unix.SOCK_STREAM
		case "seqpacket":
			u.Type = unix.SOCK_SEQPACKET
		default:
			return fmt.Errorf("recorded unix socket %d: type %q, want stream or seqpacket", rs.Inode, rs.Type)
		}
		if show&udiagShowName != 0 {
			u.Name = rs.Path
		}
		if show&udiagShowRQLen != 0 {
			u.RQueue, u.WQueue, u.HasRQLen = rs.RQueue, rs.WQueue, true
		}
		if show&udiagShowUID != 0 {
			u.UID, u.HasUID = rs.UID, true
		}
		visit(&u)
	}
	return nil
}

// recordUnix wraps visit to keep the listeners it is given (with their
// names only when show asks for them); done puts them in the last dump.
func (r *recorder) recordUnix(show uint32, visit func(*UnixDiagSocket)) (func(*UnixDiagSocket), func(), func() error) {
	var socks []RecordedSocket
	wrapped := func(u *UnixDiagSocket) {
		if u.State == stateListen {
			socks = append(socks, RecordedSocket{Family: "unix", State: "listen", Path: u.Name, Type: UnixTypeName(u.Type),
				Inode: u.Inode, UID: u.UID, RQueue: u.RQueue, WQueue: u.WQueue, Cookie: u.Cookie})
		}
		visit(u)
	}
	reset := func() { socks = socks[:0] }
	done := func() error {
		if show&udiagShowName == 0 {
			return nil // a queue-only sample: the named dump records them
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.rec.Dumps) == 0 {
			r.rec.Dumps = append(r.rec.Dumps, nil)
		}
		last := &r.rec.Dumps[len(r.rec.Dumps)-1]
		*last = slices.DeleteFunc(*last, func(rs RecordedSocket) bool { return rs.Family == "unix" })
		*last = append(*last, socks...)
		return r.write()
	}
	return wrapped, reset, done
}
