// Command benchservers measures what backlogctl's eBPF tracing costs real
// servers under a real client: nginx, a Go net/http server and lighttpd under
// wrk, with one connection per request or kept alive, and a syscall-heavy
// process that makes no connection (dd of one-byte reads and writes).
//
// It runs in a private network namespace (it re-executes itself under
// `unshare -n`): the server is pinned to CPU 1, wrk and the tracer to CPU 0.
// One load runs in chunks; each round runs every case once, in an order
// rotated from round to round: nothing attached ("off"), `backlogctl trace
// --trace-mode queue`, `--trace-mode full`, and `backlogctl exporter --trace`
// with its defaults, scraped every second; optionally no-op programs
// ("noop") and queue mode with no report during the chunk ("queue-unread").
// A chunk's CPU is every CPU the work took: the server's threads and wrk's
// (where loopback's softirqs run), both CPUs' ksoftirqd and the tracer's
// threads (scheduler run time from /proc/PID/task/*/schedstat; wrk's
// rusage), over the requests wrk made in it. Each case is compared with the "off" chunk of the same round, so slow
// drifts of a shared machine cancel; the report gives the median paired
// difference with a distribution-free 95% interval, and the mean's.
//
// With -stats it then runs one chunk per traced mode with the kernel's BPF
// run-time statistics on (BPF_ENABLE_STATS, only while it holds the
// descriptor) and prints each program's runs and nanoseconds per request.
//
// Usage (as root; scripts/bench-servers.sh builds backlogctl and runs it):
//
//	benchservers -backlogctl PATH -server nginx|go|lighttpd|dd -shape close|keepalive [-rounds 20] [-chunk 3s]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

const childEnv = "BENCHSERVERS_IN_NETNS"

var (
	backlogctl = flag.String("backlogctl", "backlogctl", "the backlogctl binary to measure")
	serverName = flag.String("server", "nginx", "nginx, go, lighttpd, or dd (a syscall-heavy process, no server)")
	shape      = flag.String("shape", "close", "close (a connection per request) or keepalive")
	rounds     = flag.Int("rounds", 20, "rounds: each runs every case once")
	chunk      = flag.Duration("chunk", 3*time.Second, "how long each case's load runs in a round (whole seconds)")
	conns      = flag.Int("connections", 16, "wrk's connections")
	casesFlag  = flag.String("cases", "queue,full,exporter", "cases besides off: queue, full, exporter, noop (programs that return at once on queue mode's two busy hooks), queue-unread (queue mode's programs, no report read during the chunk), and with -base queue-base, full-base")
	base       = flag.String("base", "", "another backlogctl binary (an older build) whose trace the cases queue-base and full-base run, in the same rounds")
	stats      = flag.Bool("stats", false, "then run one chunk per traced mode with BPF statistics on")
	ddBytes    = flag.Int("dd-bytes", 1_000_000, "dd's one-byte reads and writes per chunk")
	fires      = flag.Bool("fires", false, "then run one chunk with no-op programs on every tracepoint that could see an enqueue (sk_data_ready, kfree_skb, inet_sock_set_state) and print how often each fires per request")
)

func main() {
	flag.Parse()
	if os.Geteuid() != 0 {
		fail(errors.New("run as root: it makes a network namespace and loads eBPF programs"))
	}
	if os.Getenv(childEnv) == "" {
		cmd := exec.Command("unshare", append([]string{"-n", os.Args[0]}, os.Args[1:]...)...)
		cmd.Env = append(os.Environ(), childEnv+"=1")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchservers:", err)
	os.Exit(1)
}

// sample is one chunk of one case.
type sample struct {
	requests float64
	seconds  float64
	// cpuNs is the load's CPU (server, client, ksoftirqd), tracerNs the
	// tracer's own.
	cpuNs, tracerNs float64
}

// cpuPerRequestUs is all the CPU per request, the tracer's included; for
// dd, the tracer's is not: it serves no dd syscall, and is given apart.
func (s sample) cpuPerRequestUs() float64 {
	if *serverName == "dd" {
		return s.cpuNs / s.requests / 1e3
	}
	return (s.cpuNs + s.tracerNs) / s.requests / 1e3
}

// tracerMsPerSecond is the tracer's own CPU, in ms per second.
func (s sample) tracerMsPerSecond() float64 { return s.tracerNs / s.seconds / 1e6 }
func (s sample) rate() float64              { return s.requests / s.seconds }

func run() error {
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return fmt.Errorf("ip link set lo up: %v: %s", err, out)
	}
	dir, err := os.MkdirTemp("", "benchservers")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var srv *server
	if *serverName != "dd" {
		if srv, err = startServer(dir, *serverName); err != nil {
			return err
		}
		defer srv.stop()
	}
	cases := append([]string{"off"}, strings.Split(*casesFlag, ",")...)
	load := loadAvg()
	fmt.Printf("# %s, %s, %d rounds of %s chunks, cases %s; load average at start %s\n",
		*serverName, *shape, *rounds, *chunk, strings.Join(cases, ","), load)
	samples := map[string][]sample{}
	for r := range *rounds {
		order := slices.Clone(cases)
		k := r % len(order)
		order = append(order[k:], order[:k]...)
		for _, c := range order {
			s, err := measure(dir, srv, c, nil)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", r+1, c, err)
			}
			samples[c] = append(samples[c], s)
		}
		fmt.Fprintf(os.Stderr, "round %d/%d done\n", r+1, *rounds)
	}
	report(cases, samples)
	fmt.Printf("# load average at end %s\n", loadAvg())
	if *fires {
		if err := hookFires(dir, srv); err != nil {
			return err
		}
	}
	if *stats {
		for _, c := range cases {
			if c != "queue-unread" && (strings.HasPrefix(c, "queue") || strings.HasPrefix(c, "full")) {
				if err := programStats(dir, srv, c); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// report prints, per case, the median and mean paired difference from off
// in CPU per request and in requests/s, with 95% intervals.
func report(cases []string, samples map[string][]sample) {
	off := samples["off"]
	unit := "request"
	if *serverName == "dd" {
		unit = "syscall"
	}
	cpuOff := make([]float64, len(off))
	rateOff := make([]float64, len(off))
	for i, s := range off {
		cpuOff[i], rateOff[i] = s.cpuPerRequestUs(), s.rate()
	}
	fmt.Printf("off: median %.2f µs of CPU per %s, %.0f %ss/s\n\n", median(cpuOff), unit, median(rateOff), unit)
	all := "the tracer's included"
	if *serverName == "dd" {
		all = "dd's own"
	}
	fmt.Printf("| case | added CPU per %s (%s), median (95%% interval) | mean ± 95%% | as %% of off | change in %ss/s, median (95%% interval) | tracer's own CPU, ms per s |\n|---|---:|---:|---:|---:|---:|\n", unit, all, unit)
	for _, c := range cases[1:] {
		var dCPU, dRate []float64
		for i, s := range samples[c] {
			dCPU = append(dCPU, s.cpuPerRequestUs()-off[i].cpuPerRequestUs())
			dRate = append(dRate, 100*(s.rate()/off[i].rate()-1))
		}
		lo, hi := medianInterval(dCPU)
		m, h := meanInterval(dCPU)
		rlo, rhi := medianInterval(dRate)
		var own []float64
		for _, s := range samples[c] {
			own = append(own, s.tracerMsPerSecond())
		}
		fmt.Printf("| %s | %+.3f µs (%+.3f to %+.3f) | %+.3f ± %.3f | %+.2f%% | %+.2f%% (%+.2f to %+.2f) | %.1f |\n",
			c, median(dCPU), lo, hi, m, h, 100*median(dCPU)/median(cpuOff), median(dRate), rlo, rhi, median(own))
	}
}

// measure runs one chunk of case c: the tracer it needs, then the load.
// With statsFor it also returns the programs' BPF statistics over the chunk.
func measure(dir string, srv *server, c string, statsFor func(ids []uint32) func(sample) string) (sample, error) {
	var tr *tracer
	var err error
	switch c {
	case "off":
	case "queue", "full":
		tr, err = startTrace(*backlogctl, c, time.Second)
	case "queue-unread":
		// Its first report is due an hour on: none is made in the chunk.
		tr, err = startUnread(*backlogctl)
	case "queue-base", "full-base":
		if *base == "" {
			return sample{}, fmt.Errorf("case %s needs -base", c)
		}
		tr, err = startTrace(*base, strings.TrimSuffix(c, "-base"), time.Second)
	case "exporter":
		tr, err = startExporter(dir)
	case "noop":
		tr, err = attachNoop()
	default:
		return sample{}, fmt.Errorf("unknown case %q", c)
	}
	if err != nil {
		return sample{}, err
	}
	defer tr.stop()
	// Let the tracer's start (loading, the first dump) settle.
	time.Sleep(300 * time.Millisecond)
	var done func(sample) string
	if statsFor != nil {
		done = statsFor(tr.programIDs())
	}
	pids := append(srv.pids(), ksoftirqds()...)
	before, tracerBefore := schedNs(pids), schedNs(tr.pids())
	var s sample
	if *serverName == "dd" {
		s, err = runDD()
	} else {
		s, err = runWrk(srv.port)
	}
	if err != nil {
		return sample{}, err
	}
	s.cpuNs += schedNs(pids) - before
	s.tracerNs = schedNs(tr.pids()) - tracerBefore
	if done != nil {
		fmt.Print(done(s))
	}
	return s, nil
}

var wrkRequests = regexp.MustCompile(`(\d+) requests in ([0-9.]+)(us|ms|s|m)`)

// runWrk runs wrk pinned to CPU 0 for a chunk; its CPU is its rusage.
func runWrk(port int) (sample, error) {
	args := []string{"-c", "0", "wrk", "-t1", "-c", strconv.Itoa(*conns), "-d", fmt.Sprintf("%ds", max(1, int(chunk.Seconds())))}
	if *shape == "close" {
		args = append(args, "-H", "Connection: close")
	}
	args = append(args, fmt.Sprintf("http://127.0.0.1:%d/", port))
	cmd := exec.Command("taskset", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return sample{}, fmt.Errorf("wrk: %v: %s", err, out)
	}
	m := wrkRequests.FindSubmatch(out)
	if m == nil {
		return sample{}, fmt.Errorf("wrk said %q", out)
	}
	n, _ := strconv.ParseFloat(string(m[1]), 64)
	secs, _ := strconv.ParseFloat(string(m[2]), 64)
	secs *= map[string]float64{"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60}[string(m[3])]
	if strings.Contains(string(out), "Socket errors") || strings.Contains(string(out), "Non-2xx") {
		return sample{}, fmt.Errorf("wrk saw errors: %s", out)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := float64(ru.Utime.Nano() + ru.Stime.Nano())
	return sample{requests: n, seconds: secs, cpuNs: cpu}, nil
}

// runDD copies ddBytes one-byte blocks from /dev/zero to /dev/null on CPU 1:
// a read and a write per byte.
func runDD() (sample, error) {
	cmd := exec.Command("taskset", "-c", "1", "dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count="+strconv.Itoa(*ddBytes))
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return sample{}, fmt.Errorf("dd: %v: %s", err, out)
	}
	secs := time.Since(start).Seconds()
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return sample{requests: 2 * float64(*ddBytes), seconds: secs, cpuNs: float64(ru.Utime.Nano() + ru.Stime.Nano())}, nil
}

// server is the server under load, in its own process group.
type server struct {
	cmd  *exec.Cmd
	port int
}

func (s *server) pids() []int {
	if s == nil {
		return nil
	}
	return groupPids(s.cmd.Process.Pid)
}

func (s *server) stop() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	_ = s.cmd.Wait()
}

const goServer = `package main

import (
	"net/http"
	"os"
)

func main() {
	http.ListenAndServe(os.Args[1], http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) }))
}
`

// startServer starts name on 127.0.0.1:8080, pinned to CPU 1, and waits
// until it answers.
func startServer(dir, name string) (*server, error) {
	const port = 8080
	var args []string
	env := os.Environ()
	switch name {
	case "nginx":
		conf := fmt.Sprintf(`worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/body; proxy_temp_path %[1]s/proxy; fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi; scgi_temp_path %[1]s/scgi;
  server { listen 127.0.0.1:%[2]d; location / { return 200 "ok\n"; } }
}
`, dir, port)
		if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
			return nil, err
		}
		args = []string{"nginx", "-c", filepath.Join(dir, "nginx.conf"), "-p", dir, "-g", "daemon off; user root;"}
	case "go":
		src := filepath.Join(dir, "goserver")
		if err := os.MkdirAll(src, 0o755); err != nil {
			return nil, err
		}
		_ = os.WriteFile(filepath.Join(src, "main.go"), []byte(goServer), 0o644)
		_ = os.WriteFile(filepath.Join(src, "go.mod"), []byte("module goserver\n\ngo 1.21\n"), 0o644)
		build := exec.Command("go", "build", "-o", "goserver", ".")
		build.Dir, build.Env = src, append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building the Go server: %v: %s", err, out)
		}
		args = []string{filepath.Join(src, "goserver"), fmt.Sprintf("127.0.0.1:%d", port)}
		env = append(env, "GOMAXPROCS=1")
	case "lighttpd":
		docs := filepath.Join(dir, "www")
		_ = os.MkdirAll(docs, 0o755)
		_ = os.WriteFile(filepath.Join(docs, "index.html"), []byte("ok\n"), 0o644)
		conf := fmt.Sprintf(`server.document-root = %q
server.bind = "127.0.0.1"
server.port = %d
server.pid-file = %q
server.errorlog = %q
server.max-keep-alive-requests = 1000
index-file.names = ("index.html")
`, docs, port, filepath.Join(dir, "lighttpd.pid"), filepath.Join(dir, "lighttpd.log"))
		if err := os.WriteFile(filepath.Join(dir, "lighttpd.conf"), []byte(conf), 0o644); err != nil {
			return nil, err
		}
		args = []string{"lighttpd", "-D", "-f", filepath.Join(dir, "lighttpd.conf")}
	default:
		return nil, fmt.Errorf("unknown server %q", name)
	}
	cmd := exec.Command("taskset", append([]string{"-c", "1"}, args...)...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log, err := os.Create(filepath.Join(dir, name+".out"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	s := &server{cmd: cmd, port: port}
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err == nil {
			resp.Body.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			b, _ := os.ReadFile(filepath.Join(dir, name+".out"))
			return nil, fmt.Errorf("%s does not answer: %v: %s", name, err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tracer is a backlogctl process tracing while a chunk runs.
type tracer struct {
	// closers are programs this process attached itself (no process).
	closers []io.Closer
	cmd     *exec.Cmd
	ids     []uint32
	cancel  context.CancelFunc
	done    chan struct{}
}

func (t *tracer) pids() []int {
	if t == nil || t.cmd == nil {
		return nil
	}
	return []int{t.cmd.Process.Pid}
}

func (t *tracer) programIDs() []uint32 {
	if t == nil {
		return nil
	}
	return t.ids
}

func (t *tracer) stop() {
	if t == nil {
		return
	}
	for _, c := range t.closers {
		c.Close()
	}
	if t.cmd == nil {
		return
	}
	if t.cancel != nil {
		t.cancel()
		<-t.done
	}
	_ = t.cmd.Process.Signal(syscall.SIGTERM)
	_ = t.cmd.Wait()
}

var programID = regexp.MustCompile(`"id":\s*(\d+)`)

// startTrace runs backlogctl trace in mode on CPU 0, reporting every
// interval, and waits for its first report (the programs are attached then).
func startTrace(bin, mode string, interval time.Duration) (*tracer, error) {
	cmd := exec.Command("taskset", "-c", "0", bin, "trace", "--trace-mode", mode, "--interval", interval.String(), "-o", "json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("backlogctl trace printed nothing: %w", err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	t := &tracer{cmd: cmd}
	for _, m := range programID.FindAllStringSubmatch(line, -1) {
		id, _ := strconv.ParseUint(m[1], 10, 32)
		t.ids = append(t.ids, uint32(id))
	}
	return t, nil
}

// startUnread runs backlogctl trace --trace-mode queue on CPU 0 with an
// hour between reports, so none is made during a chunk, and waits until its
// bl_data_ready is attached (it prints nothing before its first report).
func startUnread(bin string) (*tracer, error) {
	before := map[ebpf.ProgramID]bool{}
	for _, id := range programIDsNow() {
		before[id] = true
	}
	cmd := exec.Command("taskset", "-c", "0", bin, "trace", "--trace-mode", "queue", "--interval", "1h", "-o", "json")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t := &tracer{cmd: cmd}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if dataReadyAttached(before) {
			return t, nil
		}
	}
	t.stop()
	return nil, errors.New("backlogctl trace attached no bl_data_ready program in 20 s")
}

// dataReadyAttached says whether a link now holds a program named
// bl_data_ready that was not loaded before.
func dataReadyAttached(before map[ebpf.ProgramID]bool) bool {
	it := new(link.Iterator)
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil || before[info.Program] {
			continue
		}
		p, err := ebpf.NewProgramFromID(info.Program)
		if err != nil {
			continue
		}
		pi, err := p.Info()
		p.Close()
		if err == nil && pi.Name == "bl_data_ready" {
			return true
		}
	}
	return false
}

// programIDsNow lists the IDs of every BPF program loaded now.
func programIDsNow() []ebpf.ProgramID {
	var ids []ebpf.ProgramID
	for id := ebpf.ProgramID(0); ; {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			return ids
		}
		ids, id = append(ids, next), next
	}
}

var serving = regexp.MustCompile(`serving http://(\S+)/metrics`)

// startExporter runs backlogctl exporter --trace (its defaults) on CPU 0 and
// scrapes it every second, as Prometheus would (at a shorter interval than
// usual: an upper bound).
func startExporter(dir string) (*tracer, error) {
	cmd := exec.Command("taskset", "-c", "0", *backlogctl, "exporter", "--trace", "--listen", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(stderr)
	addr := ""
	for sc.Scan() {
		if m := serving.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
			break
		}
	}
	if addr == "" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, errors.New("backlogctl exporter did not say where it serves")
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	ctx, cancel := context.WithCancel(context.Background())
	t := &tracer{cmd: cmd, cancel: cancel, done: make(chan struct{})}
	scrape := func() {
		if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	scrape()
	go func() {
		defer close(t.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				scrape()
			}
		}
	}()
	return t, nil
}

// fireHooks are the tracepoints whose firing rate decides what a program on
// them costs: queue mode's two (sk_data_ready, kfree_skb), and
// inet_sock_set_state, the only other hook that sees a connection reach a
// listener's queue (at the child's state changes, without the listener).
var fireHooks = []string{"sk_data_ready", "kfree_skb", "inet_sock_set_state"}

// hookFires runs one chunk with a no-op program on each of fireHooks and the
// kernel's statistics on, and prints how often each hook fired per request.
func hookFires(dir string, srv *server) error {
	var progs []*ebpf.Program
	tr := &tracer{}
	for _, tp := range fireHooks {
		p, l, err := attachNoopTo(tp)
		if err != nil {
			tr.stop()
			return err
		}
		progs = append(progs, p)
		tr.closers = append(tr.closers, l, p)
	}
	defer tr.stop()
	stop, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return fmt.Errorf("BPF statistics: %w", err)
	}
	defer stop.Close()
	before := make([]uint64, len(progs))
	for i, p := range progs {
		st, err := p.Stats()
		if err != nil {
			return err
		}
		before[i] = st.RunCount
	}
	var s sample
	if *serverName == "dd" {
		s, err = runDD()
	} else {
		s, err = runWrk(srv.port)
	}
	if err != nil {
		return err
	}
	unit := map[bool]string{true: "syscall", false: "request"}[*serverName == "dd"]
	fmt.Printf("\nHooks fired per %s (no-op programs, %.0f %ss):\n\n| tracepoint | fires per %s |\n|---|---:|\n", unit, s.requests, unit, unit)
	for i, p := range progs {
		st, err := p.Stats()
		if err != nil {
			return err
		}
		fmt.Printf("| %s | %.2f |\n", fireHooks[i], float64(st.RunCount-before[i])/s.requests)
	}
	return nil
}

// attachNoopTo loads a program that returns at once and attaches it to
// tp_btf/tp.
func attachNoopTo(tp string) (*ebpf.Program, io.Closer, error) {
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "bl_bench_noop", Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: tp, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("loading a no-op program on %s: %w", tp, err)
	}
	l, err := link.AttachTracing(link.TracingOptions{Program: p})
	if err != nil {
		p.Close()
		return nil, nil, fmt.Errorf("attaching a no-op program to %s: %w", tp, err)
	}
	return p, l, nil
}

// attachNoop attaches, in this process, a program that returns at once to
// tp_btf/sk_data_ready and tp_btf/kfree_skb: what the hooks' dispatch costs
// before any program work (the floor of queue mode's cost).
func attachNoop() (*tracer, error) {
	t := &tracer{}
	for _, tp := range fireHooks[:2] {
		p, l, err := attachNoopTo(tp)
		if err != nil {
			t.stop()
			return nil, err
		}
		t.closers = append(t.closers, l, p)
	}
	return t, nil
}

// programStats runs one chunk of mode with BPF statistics on and prints each
// program's runs and run time per request.
func programStats(dir string, srv *server, mode string) error {
	unit := map[bool]string{true: "syscall", false: "request"}[*serverName == "dd"]
	_, err := measure(dir, srv, mode, func(ids []uint32) func(sample) string {
		ids = slices.Compact(slices.Sorted(slices.Values(ids)))
		stop, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
		if err != nil {
			return func(sample) string { return fmt.Sprintf("# BPF statistics unavailable: %v\n", err) }
		}
		before := progStats(ids)
		return func(s sample) string {
			defer stop.Close()
			after := progStats(ids)
			var b strings.Builder
			fmt.Fprintf(&b, "\n%s mode, BPF statistics over %.0f %ss (the statistics add their own clock reads to every run):\n\n| program | runs per %s | ns per run | ns per %s |\n|---|---:|---:|---:|\n", mode, s.requests, unit, unit, unit)
			for _, id := range ids {
				a, b0 := after[id], before[id]
				runs, ns := a.runs-b0.runs, a.ns-b0.ns
				per := 0.0
				if runs > 0 {
					per = float64(ns) / float64(runs)
				}
				fmt.Fprintf(&b, "| %s | %.2f | %.0f | %.0f |\n", a.name, float64(runs)/s.requests, per, float64(ns)/s.requests)
			}
			return b.String()
		}
	})
	return err
}

type progStat struct {
	name     string
	runs, ns uint64
}

func progStats(ids []uint32) map[uint32]progStat {
	out := map[uint32]progStat{}
	for _, id := range slices.Compact(slices.Sorted(slices.Values(ids))) {
		p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
		if err != nil {
			continue
		}
		info, err := p.Info()
		if err != nil {
			p.Close()
			continue
		}
		st, err := p.Stats()
		p.Close()
		if err != nil {
			continue
		}
		out[id] = progStat{name: info.Name, runs: st.RunCount, ns: uint64(st.Runtime.Nanoseconds())}
	}
	return out
}

// pidsWhere are the processes for which match holds.
func pidsWhere(match func(pid int) bool) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && match(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// groupPids are the processes of process group pgid.
func groupPids(pgid int) []int {
	return pidsWhere(func(pid int) bool {
		g, err := syscall.Getpgid(pid)
		return err == nil && g == pgid
	})
}

// ksoftirqds are the ksoftirqd threads of every CPU.
func ksoftirqds() []int {
	return pidsWhere(func(pid int) bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		return err == nil && strings.HasPrefix(string(b), "ksoftirqd/")
	})
}

// schedNs sums the scheduler run time (ns) of every thread of pids.
func schedNs(pids []int) float64 {
	var total float64
	for _, pid := range pids {
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		for _, t := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
			if err != nil {
				continue
			}
			if f := strings.Fields(string(b)); len(f) > 0 {
				ns, _ := strconv.ParseFloat(f[0], 64)
				total += ns
			}
		}
	}
	return total
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// medianInterval is a distribution-free 95% interval of v's median: the
// order statistics n/2 ∓ 0.98·√n.
func medianInterval(v []float64) (lo, hi float64) {
	s := slices.Sorted(slices.Values(v))
	n := len(s)
	if n == 0 {
		return 0, 0
	}
	k := max(int(math.Floor(float64(n)/2-0.98*math.Sqrt(float64(n)))), 0)
	return s[k], s[n-1-k]
}

// meanInterval is v's mean and the half-width of its 95% interval (1.96
// standard errors).
func meanInterval(v []float64) (mean, half float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	var ss float64
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	if len(v) > 1 {
		half = 1.96 * math.Sqrt(ss/float64(len(v)-1)/float64(len(v)))
	}
	return mean, half
}
