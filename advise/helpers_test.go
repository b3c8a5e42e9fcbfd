package advise

import (
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/model"

	"github.com/google/go-cmp/cmp"
)

// summary is the part of a finding the rule tests compare; reasons and fixes
// are checked separately for the phrases that matter.
type summary struct {
	ID          string
	Severity    Severity
	Subject     string
	Key         string
	Current     *int64
	Recommended *int64
}

func summarize(fs []Finding) []summary {
	out := []summary{}
	for _, f := range fs {
		out = append(out, summary{f.ID, f.Severity, f.Subject, f.Key, f.Current, f.Recommended})
	}
	return out
}

func p64(v int64) *int64   { return &v }
func p32(v uint32) *uint32 { return &v }

// host is a baseline snapshot: kernel defaults, no listeners, quiet counters.
func host() *model.Snapshot {
	return &model.Snapshot{
		Kernel: "6.18.44",
		Sysctls: map[string]int64{
			"net.core.somaxconn":             4096,
			"net.ipv4.tcp_max_syn_backlog":   512,
			"net.ipv4.tcp_syncookies":        1,
			"net.ipv4.tcp_abort_on_overflow": 0,
			"net.ipv4.tcp_synack_retries":    5,
			"net.core.netdev_max_backlog":    1000,
			"fs.file-max":                    9223372036854775807,
			"fs.nr_open":                     1048576,
		},
		Counters:  map[string]uint64{"TcpExtListenOverflows": 0, "TcpExtListenDrops": 0, "TcpExtTCPReqQFullDrop": 0, "TcpExtTCPReqQFullDoCookies": 0, "TcpExtTCPDeferAcceptDrop": 0, "TcpPassiveOpens": 0},
		Files:     &model.Files{Allocated: 1000, Max: 9223372036854775807, NrOpen: 1048576},
		Listeners: []model.Listener{},
	}
}

// with returns a copy of host() changed by the given functions.
func with(changes ...func(*model.Snapshot)) *model.Snapshot {
	s := host()
	for _, c := range changes {
		c(s)
	}
	return s
}

func setSysctl(name string, v int64) func(*model.Snapshot) {
	return func(s *model.Snapshot) { s.Sysctls[name] = v }
}

func without(name string) func(*model.Snapshot) {
	return func(s *model.Snapshot) { delete(s.Sysctls, name) }
}

func counter(name string, v uint64) func(*model.Snapshot) {
	return func(s *model.Snapshot) { s.Counters[name] = v }
}

func listening(ls ...model.Listener) func(*model.Snapshot) {
	return func(s *model.Snapshot) { s.Listeners = append(s.Listeners, ls...) }
}

// lst is a listener on 127.0.0.1:port with the given queue, backlog and drops
// (nil: not reported); its inode is the port, so samples match it.
func lst(port uint16, queue, backlog uint32, drops *uint32, owners ...model.Process) model.Listener {
	return model.Listener{
		Family: "ipv4", Address: "127.0.0.1", Port: port,
		AcceptQueue: queue, AcceptQueueMax: backlog, Drops: drops,
		Inode: uint32(port), Processes: owners,
	}
}

func proc(pid int, comm string, open int, soft, hard uint64) model.Process {
	return model.Process{PID: pid, Comm: comm, OpenFDs: open, NofileSoft: soft, NofileHard: hard}
}

// once judges a single sample (no interval).
func once(s *model.Snapshot) Input { return Input{Now: model.Sample{Snapshot: s}} }

// twice judges two samples 10s apart.
func twice(before, now *model.Snapshot) Input {
	return Input{Now: model.Sample{Snapshot: now}, Before: &model.Sample{Snapshot: before}, Interval: 10 * time.Second}
}

// only keeps the findings with the given ids.
func only(fs []Finding, ids ...string) []Finding {
	var out []Finding
	for _, f := range fs {
		for _, id := range ids {
			if f.ID == id {
				out = append(out, f)
			}
		}
	}
	return out
}

// ruleCase is one row of a rule's table: an input and the findings, among
// the rule's ids, it must give.
type ruleCase struct {
	name string
	in   Input
	want []summary
}

// runRuleCases checks each case's findings with the given ids.
func runRuleCases(t *testing.T, ids []string, cases []ruleCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got := summarize(only(Advise(tt.in), ids...))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}
