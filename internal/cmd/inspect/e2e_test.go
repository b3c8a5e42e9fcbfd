package inspect_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
)

// e2eBinEnv passes the built binary's path to the test's namespaced child.
const e2eBinEnv = "BACKLOGCTL_E2E_BIN"

// buildBinary compiles backlogctl into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "backlogctl")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/backlogctl/backlogctl/cmd/backlogctl")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runBinary runs the binary with stdout and stderr as pipes and returns
// them with the exit code.
func runBinary(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errOut.String(), 0
	case errors.As(err, &ee):
		return out.String(), errOut.String(), ee.ExitCode()
	}
	t.Fatalf("running %s: %v", bin, err)
	return "", "", -1
}

// The real binary, in a namespace with an overflowing listener and a
// dual-stack one: -o json parses into the contract's names and values, the
// piped table is tab-separated, and bad input exits 2 with one line.
func TestBinaryEndToEnd(t *testing.T) {
	// Build outside the namespace (which has no network for fetching
	// modules); the child finds the binary through the environment.
	if !nstest.InChild(t) {
		t.Setenv(e2eBinEnv, buildBinary(t))
	}
	if !nstest.Isolate(t) {
		return
	}
	bin := os.Getenv(e2eBinEnv)
	nstest.SetSysctl(t, "net.core.somaxconn", 8)
	_, full := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 100, nstest.ListenOpts{})
	_, dual := nstest.Listen(t, netip.MustParseAddrPort("[::]:0"), 4, nstest.ListenOpts{})
	nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 4, nstest.ListenOpts{}) // filtered out
	for i := 0; i < 12; i++ {
		nstest.Connect(t, full)
	}
	nstest.Connect(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), dual.Port()))
	ports := []string{"--port", strconv.Itoa(int(full.Port())), "--port", strconv.Itoa(int(dual.Port()))}

	var stdout, stderr string
	var code int
	var snap model.Snapshot
	nstest.Eventually(t, 5*time.Second, "the queue to fill and overflow", func() bool {
		stdout, stderr, code = runBinary(t, bin, append([]string{"inspect", "-o", "json"}, ports...)...)
		if code != 0 {
			t.Fatalf("inspect -o json: exit %d\n%s", code, stderr)
		}
		snap = model.Snapshot{}
		if err := json.Unmarshal([]byte(stdout), &snap); err != nil {
			t.Fatalf("inspect -o json printed invalid JSON: %v\n%s", err, stdout)
		}
		l, _ := byPort(snap.Listeners, full.Port())
		return len(snap.Listeners) == 2 && l.AcceptQueue == 9 && l.DropCount() > 0
	})

	// The contract's names, read as a script would.
	var raw map[string]any
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"time", "kernel", "sysctls", "counters", "files", "listeners", "warnings"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("JSON lacks top-level %q", k)
		}
	}
	first := raw["listeners"].([]any)[0].(map[string]any)
	for _, k := range []string{"family", "address", "port", "accept_queue", "accept_queue_max", "fill", "syn_queue", "drops", "inode", "uid", "processes"} {
		if _, ok := first[k]; !ok {
			t.Errorf("listener JSON lacks %q: %v", k, first)
		}
	}
	if _, ok := raw["sysctls"].(map[string]any)["net.core.netdev_max_backlog"]; ok {
		t.Errorf("net.core.netdev_max_backlog is global: absent in a child namespace, so omitted")
	}

	l, _ := byPort(snap.Listeners, full.Port())
	if l.Port != full.Port() || l.Family != "ipv4" || l.Address != "127.0.0.1" || l.AcceptQueueMax != 8 || l.Fill != 1 {
		t.Errorf("overflowing listener = %+v", l)
	}
	if len(l.Processes) != 1 || l.Processes[0].PID != os.Getpid() {
		t.Errorf("processes = %+v, want this test (%d), the socket's holder", l.Processes, os.Getpid())
	}
	d, ok := byPort(snap.Listeners, dual.Port())
	if !ok {
		t.Fatalf("no dual-stack listener in %+v", snap.Listeners)
	}
	if d.Port != dual.Port() || d.Family != "ipv6" || d.Address != "::" || d.V6Only == nil || *d.V6Only || d.AcceptQueue != 1 || d.AcceptQueueMax != 4 {
		t.Errorf("dual-stack listener = %+v", d)
	}
	if snap.Sysctls["net.core.somaxconn"] != 8 || snap.Counters["TcpExtListenOverflows"] == 0 || snap.Files == nil {
		t.Errorf("sysctls %v, ListenOverflows %d, files %v", snap.Sysctls, snap.Counters["TcpExtListenOverflows"], snap.Files)
	}

	// Piped: tab-separated; absent tunables say so.
	stdout, _, code = runBinary(t, bin, append([]string{"inspect", "--no-processes"}, ports...)...)
	if code != 0 {
		t.Fatalf("inspect: exit %d", code)
	}
	lines := strings.Split(stdout, "\n")
	row := "127.0.0.1\t" + strconv.Itoa(int(full.Port())) + "\t9\t8\t1.00\t0\t"
	if !slices.ContainsFunc(lines, func(s string) bool { return strings.HasPrefix(s, row) }) {
		t.Errorf("piped table lacks a row starting %q:\n%s", row, stdout)
	}
	if !slices.ContainsFunc(lines, func(s string) bool { return strings.HasPrefix(s, "net.core.netdev_max_backlog\tabsent\t") }) {
		t.Errorf("piped table does not show netdev_max_backlog as absent:\n%s", stdout)
	}

	for _, args := range [][]string{
		{"inspect", "--port", "70000"},
		{"inspect", "--port", "0"},
		{"inspect", "-o", "xml"},
		{"inspect", "--bogus"},
		{"inspect", "9000"},
	} {
		stdout, stderr, code := runBinary(t, bin, args...)
		if code != 2 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "backlogctl: ") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and one line on stderr", args, code, stdout, stderr)
		}
	}
}

func byPort(ls []model.Listener, port uint16) (model.Listener, bool) {
	for _, l := range ls {
		if l.Port == port {
			return l, true
		}
	}
	return model.Listener{}, false
}
