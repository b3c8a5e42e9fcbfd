package inspect

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/model"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got); go test -update rewrites it:\n%s", name, diff)
	}
}

func ptr[T any](v T) *T { return &v }

// fixedSnapshot exercises every field of the JSON contract.
func fixedSnapshot() *model.Snapshot {
	return &model.Snapshot{
		Time:   time.Date(2026, 11, 23, 20, 41, 25, 0, time.UTC),
		Kernel: "6.18.44",
		Sysctls: map[string]int64{
			"net.core.somaxconn":             4096,
			"net.ipv4.tcp_max_syn_backlog":   512,
			"net.ipv4.tcp_syncookies":        1,
			"net.ipv4.tcp_abort_on_overflow": 0,
			"net.ipv4.tcp_synack_retries":    5,
			"fs.file-max":                    2466165,
			"fs.nr_open":                     1048576,
		},
		Counters: map[string]uint64{
			"TcpExtListenOverflows":      31,
			"TcpExtListenDrops":          33,
			"TcpExtTCPReqQFullDrop":      0,
			"TcpExtTCPReqQFullDoCookies": 2,
			"TcpExtSyncookiesSent":       2,
			"TcpExtSyncookiesRecv":       1,
			"TcpActiveOpens":             1234,
		},
		Files: &model.Files{Allocated: 305, Max: 2466165, NrOpen: 1048576},
		Listeners: []model.Listener{
			{Family: "ipv4", Address: "0.0.0.0", Port: 22, AcceptQueue: 0, AcceptQueueMax: 128, Fill: 0,
				Inode: 1001, UID: 0, Processes: []model.Process{
					{PID: 1, Comm: "sshd", OpenFDs: 5, NofileSoft: model.Unlimited, NofileHard: model.Unlimited, Cmdline: "sshd: /usr/sbin/sshd -D"},
				}},
			{Family: "ipv4", Address: "0.0.0.0", Port: 53, AcceptQueueMax: 20, Inode: 1500, BoundIfindex: 2,
				Drops: ptr(uint32(0)), Processes: []model.Process{}},
			{Family: "ipv6", Address: "::", Port: 443, AcceptQueue: 2, AcceptQueueMax: 511, Fill: 2.0 / 512,
				SynQueue: 3, SynQueueShared: true, Drops: ptr(uint32(0)), Inode: 2001, UID: 33, V6Only: ptr(false),
				ReuseportGroup: 1, ReuseportSize: 2, Processes: []model.Process{}},
			{Family: "ipv6", Address: "::", Port: 443, AcceptQueue: 0, AcceptQueueMax: 511, Fill: 0,
				SynQueue: 3, SynQueueShared: true, Drops: ptr(uint32(5)), Inode: 2002, UID: 33, V6Only: ptr(false),
				ReuseportGroup: 1, ReuseportSize: 2, Processes: []model.Process{}},
			{Family: "ipv4", Address: "127.0.0.1", Port: 9000, AcceptQueue: 9, AcceptQueueMax: 8, Fill: 1,
				Drops: ptr(uint32(42)), Inode: 123456, UID: 0, Processes: []model.Process{
					{PID: 4242, Comm: "nginx", OpenFDs: 17, NofileSoft: 1024, NofileHard: 524288, Cmdline: "nginx: master process"},
					{PID: 4243, Comm: "nginx", OpenFDs: 1024, NofileSoft: 1024, NofileHard: 524288, Cmdline: "nginx: worker process"},
				}},
			// A Kubernetes pod's listener, its owner named by the runtime.
			{Family: "ipv4", Address: "0.0.0.0", Port: 8000, AcceptQueue: 1, AcceptQueueMax: 2048, Fill: 1.0 / 2049,
				Drops: ptr(uint32(0)), Inode: 7001, UID: 1000, Processes: []model.Process{
					{PID: 7100, Comm: "gunicorn", OpenFDs: 12, NofileSoft: 1048576, NofileHard: 1048576, Cmdline: "gunicorn app:app",
						Workload: model.Workload{Pod: "web-7d4b9c8f6-x2k9p", Namespace: "shop", Container: "app",
							ContainerID: "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90", PodUID: "0f9a8b7c-1d2e-4f3a-9b8c-7d6e5f4a3b2c"}},
				}},
		},
		Warnings: []string{"could not read the descriptors of 3 processes (run as root to see every owner)"},
	}
}

// here is a snapshot of this namespace, as the collector returns it.
func here(s *model.Snapshot) *model.MultiSnapshot {
	return &model.MultiSnapshot{Time: s.Time, Namespaces: []model.NamespaceSnapshot{{Snapshot: s}}}
}

// run calls inspectRun with a fixed snapshot and returns stdout, stderr and
// the collect.Options the command asked for it with.
func run(t *testing.T, o Options, tty bool) (string, string, collect.Options, error) {
	t.Helper()
	ios, _, out, errOut := iostreams.Test()
	ios.SetStdoutTTY(tty)
	o.IO = ios
	var got collect.Options
	if o.Snapshot == nil {
		o.Snapshot = func(opts collect.Options) (*model.MultiSnapshot, error) {
			got = opts
			return here(fixedSnapshot()), nil
		}
	}
	err := inspectRun(&o)
	return out.String(), errOut.String(), got, err
}

func TestJSONGolden(t *testing.T) {
	out, errOut, _, err := run(t, Options{Output: "json"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if errOut != "" {
		t.Errorf("stderr = %q, want nothing: warnings belong in the JSON", errOut)
	}
	golden(t, "inspect.json", out)
}

func TestTableGolden(t *testing.T) {
	out, errOut, _, err := run(t, Options{Output: "table"}, true)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "inspect.tty.txt", out)
	if want := "backlogctl: warning: could not read the descriptors of 3 processes (run as root to see every owner)\n"; errOut != want {
		t.Errorf("stderr = %q, want %q", errOut, want)
	}
}

// Piped, every section is a tab-separated header plus rows of the same width.
func TestPipedTSV(t *testing.T) {
	out, _, _, err := run(t, Options{Output: "table"}, false)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "inspect.tsv.txt", out)
	var width int
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		switch {
		case line == "":
			width = 0
		case strings.HasPrefix(line, "# "):
		case width == 0:
			width = strings.Count(line, "\t") + 1
		default:
			if n := strings.Count(line, "\t") + 1; n != width {
				t.Errorf("row has %d fields, header %d: %q", n, width, line)
			}
		}
		if strings.Contains(line, "  ") {
			t.Errorf("piped output is padded: %q", line)
		}
	}
}

// Absent tunables and counters are printed as absent, not as 0.
func TestTableAbsent(t *testing.T) {
	o := Options{Output: "table", Snapshot: func(collect.Options) (*model.MultiSnapshot, error) {
		return here(&model.Snapshot{Sysctls: map[string]int64{"net.core.somaxconn": 8}, Counters: map[string]uint64{}, Listeners: []model.Listener{}}), nil
	}}
	out, _, _, err := run(t, o, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"net.core.somaxconn\t8\tper-netns\t",
		"net.core.netdev_max_backlog\tabsent\tglobal\t",
		"TcpExtListenOverflows\tabsent\t",
		"no listening sockets\n",
		"fs.file-nr not visible here\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestOptionsReachTheCollector(t *testing.T) {
	_, _, got, err := run(t, Options{Output: "json", Ports: []uint{443, 80}, NoProcesses: true, Roots: hostfs.Roots{Proc: "/p", Sys: "/s"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := collect.Options{Roots: hostfs.Roots{Proc: "/p", Sys: "/s"}, Ports: []uint16{443, 80}, Owners: collect.OwnersOff, Pods: true}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(collect.Options{}, "OpenTrace"), cmpopts.IgnoreUnexported(collect.Options{})); diff != "" {
		t.Errorf("collect options (-want +got):\n%s", diff)
	}
	_, _, got, _ = run(t, Options{Output: "json"}, false)
	if got.Owners != collect.OwnersOn {
		t.Errorf("processes are looked up unless --no-processes")
	}
}

func TestGatherErrorExit3(t *testing.T) {
	boom := errors.New("opening sock_diag netlink socket: permission denied")
	out, _, _, err := run(t, Options{Output: "table", Snapshot: func(collect.Options) (*model.MultiSnapshot, error) { return nil, boom }}, false)
	if code := cmdutil.ExitCode(err); code != cmdutil.ExitEnv || !errors.Is(err, boom) {
		t.Errorf("err = %v (exit %d), want the gather error with exit 3", err, code)
	}
	if out != "" {
		t.Errorf("stdout = %q, want nothing on failure", out)
	}
}
