package inspect

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
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

// RecordedSocket is one DiagSocket of a Recording.
type RecordedSocket struct {
	// Family is "ipv4" or "ipv6"; State "listen" or "syn-recv".
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
		b, err := json.MarshalIndent(r.rec, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(r.path, append(b, '\n'), 0o644)
	}
	return wrapped, reset, done
}
