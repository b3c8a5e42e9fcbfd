// Package golden runs every command's binary on one recorded host — a
// procfs-style tree (testdata/host), recorded sock_diag dumps and recorded
// eBPF evidence — and compares what it prints with testdata/golden/, byte
// for byte after the values that change from run to run (the time now, the
// kernel's release, this namespace's inode, elapsed intervals) are masked.
// go test ./internal/golden -update rewrites the golden files.
//
// The recording is read below every collector (inspect.EnvSockDiagReplay,
// trace.EnvTraceReplay, the fixture roots, a container runtime serving
// recorded CRI answers), so what the goldens pin is the whole path from the
// kernel's and the runtime's answers to the output.
package golden

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clipperhouse/displaywidth"
	"github.com/creack/pty"
	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/pods/podstest"
	"github.com/backlogctl/backlogctl/trace"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var bin string

func TestMain(m *testing.M) {
	flag.Parse()
	nstest.MainBuilt(m, &bin, 0o700)
}

// Recorded inputs, under testdata/.
const (
	// dumps: one sock_diag dump, the host as it is.
	dumps = "sockdiag.json"
	// twoDumps: that dump, then one taken later (drops rose, nginx's queue grew).
	twoDumps = "sockdiag-interval.json"
	// traced: one read of the programs' maps, ten seconds after they were attached.
	traced = "trace.json"
	// tracedReads: two reads, five seconds apart, for the commands that print each.
	tracedReads = "trace-reads.json"
)

// run is one command line and what it reads.
type run struct {
	name string
	args []string
	// sockdiag and trace name the recordings replayed (trace: none when "").
	sockdiag, trace string
	// lines, when set, is how many lines of stdout a streaming command
	// prints before it is interrupted (SIGINT), as a user's Ctrl-C.
	lines int
	// scrapes, when set, runs the exporter and scrapes /metrics this many times.
	scrapes int
	// env replaces the recorded ones (KEY=VALUE).
	env []string
	// cols, when set, runs the command on a terminal (a pty) that many
	// columns wide and 50 rows high; stderr stays a pipe.
	cols int
}

// noRuntime points at a container runtime socket that does not exist.
var noRuntime = []string{hostfs.EnvRuntimeEndpoint + "=unix:///nonexistent/containerd.sock"}

var runs = []run{
	{name: "inspect-json", args: []string{"inspect", "-o", "json"}, sockdiag: dumps},
	{name: "inspect-table", args: []string{"inspect"}, sockdiag: dumps},
	{name: "inspect-prom", args: []string{"inspect", "-o", "prom"}, sockdiag: dumps},
	{name: "inspect-filtered-json", args: []string{"inspect", "--port", "443,9000", "--process", "gosrv,python3", "-o", "json"}, sockdiag: dumps},
	{name: "inspect-no-processes-json", args: []string{"inspect", "--no-processes", "-o", "json"}, sockdiag: dumps},

	{name: "advise-json", args: []string{"advise", "-o", "json"}, sockdiag: dumps},
	{name: "advise-table", args: []string{"advise"}, sockdiag: dumps},
	{name: "advise-interval-json", args: []string{"advise", "--interval", "200ms", "-o", "json"}, sockdiag: twoDumps},
	{name: "advise-sizing-json", args: []string{"advise", "--port", "80", "--rate", "20000", "--accept-latency", "5ms", "--profile", "high-concurrency", "-o", "json"}, sockdiag: dumps},
	{name: "advise-trace-json", args: []string{"advise", "--trace", "300ms", "-o", "json"}, sockdiag: twoDumps, trace: traced},
	{name: "advise-trace-table", args: []string{"advise", "--trace", "300ms"}, sockdiag: twoDumps, trace: traced},

	{name: "tune-json", args: []string{"tune", "-o", "json"}, sockdiag: dumps},
	{name: "tune-table", args: []string{"tune"}, sockdiag: dumps},
	{name: "tune-trace-json", args: []string{"tune", "--trace", "300ms", "-o", "json"}, sockdiag: twoDumps, trace: traced},
	{name: "tune-profile-json", args: []string{"tune", "--profile", "high-concurrency", "--set", "tcp_max_syn_backlog=8192", "-o", "json"}, sockdiag: dumps},

	{name: "check-json", args: append([]string{"check", "-o", "json"}, checkRequires...), sockdiag: dumps},
	{name: "check-table", args: append([]string{"check"}, checkRequires...), sockdiag: dumps},
	{name: "check-junit", args: append([]string{"check", "-o", "junit"}, checkRequires...), sockdiag: dumps},
	{name: "check-github", args: append([]string{"check", "-o", "github"}, checkRequires...), sockdiag: dumps},
	{name: "check-observe-json", args: append([]string{"check", "--observe", "300ms", "--sample-interval", "50ms", "-o", "json"}, checkRequires...), sockdiag: dumps},
	{name: "check-traced-json", args: []string{"check", "--observe", "300ms", "-o", "json",
		"--require", "listener.accept_wait_p99<0.01", "--require", "listener.accept_wait_max<=0.1",
		"--require", "listener.high_water_fill<1", "--require", "listener.overflows==0", "--require", "listener.stalled==0",
		"--require", "process.accept_errors==0", "--require", "process.accept_errors.EMFILE==0"}, sockdiag: dumps, trace: traced},
	{name: "check-traced-table", args: []string{"check", "--observe", "300ms", "--port", "80,443",
		"--require", "listener.accept_wait_p99<0.01", "--require", "listener.stalled==0", "--require", "process.accept_errors==0"},
		sockdiag: dumps, trace: traced},

	{name: "rlimit-json", args: []string{"rlimit", "-o", "json"}, sockdiag: dumps},
	{name: "rlimit-table", args: []string{"rlimit"}, sockdiag: dumps},
	{name: "rlimit-pid-json", args: []string{"rlimit", "--pid", "4243", "-o", "json"}, sockdiag: dumps},

	{name: "trace-json", args: []string{"trace", "--interval", "1s", "-o", "json"}, sockdiag: dumps, trace: tracedReads, lines: 2},
	{name: "trace-processes-json", args: []string{"trace", "--interval", "1s", "--processes", "--port", "80,9000", "-o", "json"}, sockdiag: dumps, trace: tracedReads, lines: 2},
	{name: "trace-table", args: []string{"trace", "--interval", "1s"}, sockdiag: dumps, trace: tracedReads, lines: 3},

	{name: "watch-json", args: []string{"watch", "--interval", "1s", "--sample-interval", "250ms", "-o", "json"}, sockdiag: dumps, lines: 2},
	{name: "watch-processes-json", args: []string{"watch", "--interval", "1s", "--sample-interval", "250ms", "--processes", "--port", "80,443", "-o", "json"}, sockdiag: dumps, lines: 1},
	{name: "watch-trace-json", args: []string{"watch", "--trace", "--interval", "1s", "--sample-interval", "250ms", "-o", "json"}, sockdiag: dumps, trace: tracedReads, lines: 2},

	{name: "exporter-metrics", args: []string{"exporter", "--web.listen-address", "127.0.0.1:0"}, sockdiag: dumps, scrapes: 1},
	{name: "exporter-trace-metrics", args: []string{"exporter", "--web.listen-address", "127.0.0.1:0", "--trace"}, sockdiag: dumps, trace: tracedReads, scrapes: 2},
	{name: "exporter-aggregated-metrics", args: []string{"exporter", "--web.listen-address", "127.0.0.1:0", "--max-listeners", "3", "--trace"}, sockdiag: dumps, trace: tracedReads, scrapes: 1},

	// No container runtime to ask: gosrv's pod is known by its UID, and
	// each command says why, once.
	{name: "inspect-no-runtime-json", args: []string{"inspect", "--port", "443", "-o", "json"}, sockdiag: dumps, env: noRuntime},
	{name: "exporter-no-runtime-metrics", args: []string{"exporter", "--web.listen-address", "127.0.0.1:0", "--port", "443"}, sockdiag: dumps, scrapes: 2, env: noRuntime},

	{name: "sysctl-get-json", args: []string{"sysctl", "get", "somaxconn", "tcp_syncookies", "fs.file-max", "-o", "json"}},
	{name: "explain-json", args: []string{"explain", "somaxconn", "-o", "json"}},
	{name: "check-yaml", args: []string{"check", "-o", "yaml", "--require", "somaxconn>=4096", "--require", "listener.fill<=0.8"}, sockdiag: dumps},
	{name: "inspect-no-headers", args: []string{"inspect", "--no-headers", "--port", "80,443"}, sockdiag: dumps},
}

// terminalRuns are printed on a terminal 60, 80 and 200 columns wide: what
// a person sees, fitted to the width. They are named NAME-COLS.
var terminalRuns = []run{
	{name: "inspect-tty", args: []string{"inspect"}, sockdiag: dumps},
	{name: "inspect-wide-tty", args: []string{"inspect", "-o", "wide", "--port", "80,443"}, sockdiag: dumps},
	{name: "advise-tty", args: []string{"advise"}, sockdiag: dumps},
	{name: "advise-trace-tty", args: []string{"advise", "--trace", "300ms"}, sockdiag: twoDumps, trace: traced},
	{name: "check-tty", args: append([]string{"check"}, checkRequires...), sockdiag: dumps},
	{name: "rlimit-tty", args: []string{"rlimit"}, sockdiag: dumps},
	{name: "tune-tty", args: []string{"tune"}, sockdiag: dumps},
	{name: "trace-tty", args: []string{"trace", "--duration", "300ms", "--interval", "1s"}, sockdiag: dumps, trace: tracedReads},
	{name: "explain-tty", args: []string{"explain"}},
	{name: "explain-topic-tty", args: []string{"explain", "tcp_max_syn_backlog"}},
}

// terminalWidths are the widths terminalRuns are printed at.
var terminalWidths = []int{60, 80, 200}

// checkRequires are requirements on every kind of subject.
var checkRequires = []string{
	"--require", "somaxconn>=4096", "--require", "tcp_syncookies==1", "--require", "netdev_max_backlog>=2000",
	"--require", "listener.fill<=0.8", "--require", "listener.accept_queue_max>=128", "--require", "listener.drops==0",
	"--require", "process.nofile_soft>=1024", "--require", "process.fd_usage<0.9",
	"--require", "files.usage<0.5", "--require", "counter.TcpExtListenOverflows==0",
}

// htmlEscape is how encoding/json escapes < > & by default.
var htmlEscape = regexp.MustCompile(`\\u00(3c|3e|26)`)

// runtime is the recorded container runtime's CRI socket: gosrv (pid 5001)
// runs in the Kubernetes pod shop/gosrv-6b7f9d8c5-q4zrt it names
// (testdata/cri.json).
var runtime string

func TestGolden(t *testing.T) {
	host, err := filepath.Abs(filepath.Join("testdata", "host"))
	if err != nil {
		t.Fatal(err)
	}
	recording, err := os.ReadFile(filepath.Join("testdata", "cri.json"))
	if err != nil {
		t.Fatal(err)
	}
	runtime = podstest.Serve(t, filepath.Join(t.TempDir(), "containerd.sock"), recording).Socket
	all := runs
	for _, r := range terminalRuns {
		for _, cols := range terminalWidths {
			at := r
			at.cols, at.name = cols, fmt.Sprintf("%s-%d", r.name, cols)
			all = append(all, at)
		}
	}
	for _, r := range all {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			got := r.execute(t, host)
			if m := htmlEscape.FindString(got); m != "" {
				t.Errorf("output has the HTML escape %s: JSON is written without HTML escaping", m)
			}
			if r.cols > 0 && !slices.Contains(r.args, "wide") {
				checkFits(t, got, r.cols)
			}
			golden(t, r.name+".txt", got)
		})
	}
}

// execute runs r against the host tree and returns its exit status, stdout
// and stderr, masked.
func (r run) execute(t *testing.T, host string) string {
	t.Helper()
	// tune and advise read tune's record there; tune may take its lock.
	state := t.TempDir()
	if err := os.CopyFS(state, os.DirFS(filepath.Join(host, "state"))); err != nil {
		t.Fatal(err)
	}
	args := r.args
	switch args[0] {
	case "advise", "tune":
		args = append(args, "--state-dir", state)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "TZ=UTC", "COLUMNS=200",
		cmdutil.EnvProcRoot+"="+filepath.Join(host, "proc"),
		cmdutil.EnvSysRoot+"="+filepath.Join(host, "sys"),
		cmdutil.EnvNetnsRoot+"="+filepath.Join(host, "netns"),
		hostfs.EnvRuntimeEndpoint+"=unix://"+runtime,
		// tune's persist check reads no host sysctl.d.
		"BACKLOGCTL_SYSCTL_D_DIRS="+t.TempDir(), "BACKLOGCTL_SYSCTL_CONF="+filepath.Join(t.TempDir(), "sysctl.conf"))
	if r.sockdiag != "" {
		cmd.Env = append(cmd.Env, inspect.EnvSockDiagReplay+"="+filepath.Join("testdata", r.sockdiag))
	}
	if r.trace != "" {
		cmd.Env = append(cmd.Env, trace.EnvTraceReplay+"="+filepath.Join("testdata", r.trace))
	}
	cmd.Env = append(cmd.Env, r.env...) // the last of a key wins
	var stdout, stderr bytes.Buffer
	var err error
	if r.cols > 0 {
		// The width comes from the terminal itself, not from $COLUMNS.
		cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool { return strings.HasPrefix(kv, "COLUMNS=") })
	}
	switch {
	case r.cols > 0:
		err = r.terminal(t, cmd, &stdout, &stderr)
	case r.lines > 0:
		err = r.stream(t, cmd, &stdout, &stderr)
	case r.scrapes > 0:
		err = r.scrape(t, cmd, &stdout, &stderr)
	default:
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err = cmd.Run()
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v\nstderr: %s", strings.Join(args, " "), err, stderr.String())
	}
	out := fmt.Sprintf("$ backlogctl %s\nexit %d\n--- stdout\n%s--- stderr\n%s", strings.Join(r.args, " "), code, stdout.String(), stderr.String())
	return mask(strings.ReplaceAll(out, state, "STATE"))
}

// stream reads r.lines lines of stdout, then interrupts the command as
// Ctrl-C would and collects the rest of what it prints.
func (r run) stream(t *testing.T, cmd *exec.Cmd, stdout, stderr *bytes.Buffer) error {
	t.Helper()
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(pipe)
	for n := 0; n < r.lines; n++ {
		line, err := br.ReadString('\n')
		stdout.WriteString(line)
		if err != nil {
			return cmd.Wait()
		}
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	_, _ = io.Copy(stdout, br)
	return cmd.Wait()
}

// terminal runs cmd with its stdin and stdout on a pty r.cols columns wide,
// and returns what it printed there (with the terminal's CR LF line ends
// as LF).
func (r run) terminal(t *testing.T, cmd *exec.Cmd, stdout, stderr *bytes.Buffer) error {
	t.Helper()
	cmd.Stderr = stderr
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(r.cols), Rows: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	copied := make(chan struct{})
	var screen bytes.Buffer
	go func() {
		_, _ = io.Copy(&screen, tty) // ends with EIO once the command has exited
		close(copied)
	}()
	err = cmd.Wait()
	<-copied
	stdout.WriteString(strings.ReplaceAll(screen.String(), "\r\n", "\n"))
	return err
}

// checkFits fails the test for a line of stdout wider than cols.
func checkFits(t *testing.T, got string, cols int) {
	t.Helper()
	_, out, _ := strings.Cut(got, "--- stdout\n")
	out, _, _ = strings.Cut(out, "--- stderr\n")
	for _, l := range strings.Split(out, "\n") {
		if w := displaywidth.String(l); w > cols {
			t.Errorf("a line of %d columns on a terminal of %d: %q", w, cols, l)
		}
	}
}

var serving = regexp.MustCompile(`serving http://(\S+)/metrics`)

// scrape starts the exporter, scrapes /metrics r.scrapes times and stops it.
func (r run) scrape(t *testing.T, cmd *exec.Cmd, stdout, stderr *bytes.Buffer) error {
	t.Helper()
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var printed bytes.Buffer // the exporter prints nothing on stdout
	cmd.Stdout = &printed
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdout.Write(printed.Bytes()) }()
	br := bufio.NewReader(pipe)
	var addr string
	for addr == "" {
		line, err := br.ReadString('\n')
		stderr.WriteString(line)
		if m := serving.FindStringSubmatch(line); m != nil {
			addr = m[1]
		}
		if err != nil {
			return cmd.Wait()
		}
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(stderr, br)
		close(done)
	}()
	for i := 0; i < r.scrapes; i++ {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatalf("scrape %d: %v", i+1, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("scrape %d: %v", i+1, err)
		}
		fmt.Fprintf(stdout, "# scrape %d: %s\n%s", i+1, resp.Status, withoutSelf(body))
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	<-done
	return cmd.Wait()
}

// selfMetric names the exporter process's own metrics (the Go runtime's,
// the process's, promhttp's scrape counts): they describe the run, not the
// recording, and are left out.
var selfMetric = regexp.MustCompile(`^(# (HELP|TYPE) )?(go|process|promhttp)_`)

// withoutSelf drops the exporter process's own metrics from an exposition.
func withoutSelf(body []byte) string {
	var out strings.Builder
	for _, line := range strings.SplitAfter(string(body), "\n") {
		if !selfMetric.MatchString(line) {
			out.WriteString(line)
		}
	}
	return out.String()
}

// masks replace what differs between runs of the same recording.
var masks = []struct {
	re   *regexp.Regexp
	with string
}{
	// The time now (a recording's own times have fewer digits).
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{4,9}Z`), "TIME"},
	{regexp.MustCompile(`( timestamp=)"[^"]*"`), `${1}"TIME"`},
	{regexp.MustCompile(`"kernel": "[^"]*"`), `"kernel": "KERNEL"`},
	// This network namespace's inode.
	{regexp.MustCompile(`netns:\[\d+\]`), "netns:[INODE]"},
	{regexp.MustCompile(`("netns": )\d{7,}`), "${1}INODE"},
	{regexp.MustCompile(`("netns":)\d{7,}`), "${1}INODE"},
	// How long an interval or a window really took.
	{regexp.MustCompile(`("interval_seconds":)[0-9.e-]+`), "${1}SECONDS"},
	{regexp.MustCompile(`("samples":)\d+`), "${1}N"},
	{regexp.MustCompile(`("samples": )\d+`), "${1}N"},
	{regexp.MustCompile(`("duration_ns": )\d+`), "${1}NS"},
	{regexp.MustCompile(`(backlogctl_scrape_duration_seconds )\S+`), "${1}SECONDS"},
	// The toolchain that built the binary under test.
	{regexp.MustCompile(`(goversion=)"[^"]*"`), `${1}"GOVERSION"`},
	{regexp.MustCompile(`(serving http://)\S+`), "${1}ADDRESS/metrics"},
	{regexp.MustCompile(`(during the )\S+( window)`), "${1}DURATION${2}"},
}

func mask(s string) string {
	for _, m := range masks {
		s = m.re.ReplaceAllString(s, m.with)
	}
	return s
}

// golden compares got with testdata/golden/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./internal/golden -update writes it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got); go test ./internal/golden -update rewrites it:\n%s", name, diff)
	}
}
