package trace

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// BenchmarkHookCost breaks trace's cost per connection down by hook. Each
// round runs scripts/benchconn (a loopback connect/accept/close loop, in a
// private network namespace made with unshare -n) once per case, in rotating
// order: with nothing attached, with each of trace's programs attached alone,
// with a program that returns at once on syscalls:sys_exit_accept4 and
// sys_exit_accept (what enabling a syscall tracepoint costs every system call,
// before any of our work), and with everything trace attaches. It reports the
// median, over rounds, of each case's change in benchconn's CPU per connection
// and connections per second against the run without tracing in the same
// round. Run as root:
//
//	go test ./trace -run '^$' -bench HookCost -benchtime 1x [-args -cost.rounds 8 -cost.seconds 4 -cost.cases all,data_ready_noop -cost.pin 1 -cost.base OLD.o -cost.stats-rounds 20]
//
// docs/BENCHMARKS-trace.md records the results. The tracepoints are global:
// attached here, in the benchmark's own process, they see the benchconn runs.
func BenchmarkHookCost(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: loads eBPF programs and makes network namespaces")
	}
	bin := filepath.Join(b.TempDir(), "benchconn")
	if out, err := exec.Command("go", "build", "-o", bin, "../scripts/benchconn").CombinedOutput(); err != nil {
		b.Fatalf("building benchconn: %v\n%s", err, out)
	}
	spec, err := loadBpf()
	if err != nil {
		b.Fatal(err)
	}
	kernel, err := btf.LoadKernelSpec()
	if err != nil {
		b.Skip("no kernel BTF:", err)
	}
	var objs bpfObjects
	if err := spec.LoadAndAssign(&objs, &ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{KernelTypes: kernel}}); err != nil {
		b.Fatal(err)
	}
	defer objs.Close()
	// Queue mode's programs: the same spec with queue_mode set, as
	// --trace-mode queue loads it.
	qspec := spec.Copy()
	if err := qspec.Variables[bpfVarQueueMode].Set(uint32(1)); err != nil {
		b.Fatal(err)
	}
	var qobjs bpfObjects
	if err := qspec.LoadAndAssign(&qobjs, &ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{KernelTypes: kernel}}); err != nil {
		b.Fatal(err)
	}
	defer qobjs.Close()
	noop, ids := syscallNoop(b)
	// The same at the tp_btf hook sk_data_ready: with the kernel's run-time
	// statistics on, its time per run is what the statistics and the
	// dispatch add to every run of every program.
	btfNoop, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "bl_cost_btf_noop", Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp,
		AttachTo: "sk_data_ready", License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer btfNoop.Close()
	progs := programsOf(&objs)
	hooksOf := func(names ...string) []Hook {
		var hs []Hook
		for _, h := range Hooks {
			if slices.Contains(names, h.Program) {
				hs = append(hs, h)
			}
		}
		return hs
	}
	type costCase struct {
		name  string
		hooks []Hook
		prog  *ebpf.Program            // instead of each hook's own program
		progs map[string]*ebpf.Program // another build's programs, by name
	}
	cases := []costCase{
		{name: "off"},
		{name: "syscall_tp_noop", hooks: hooksOf(bpfProgBlAcceptExit), prog: noop},
		{name: "accept_exit", hooks: hooksOf(bpfProgBlAcceptExit)},
		{name: "data_ready", hooks: hooksOf(bpfProgBlDataReady)},
		{name: "data_ready_queue", hooks: hooksOf(bpfProgBlDataReady), progs: programsOf(&qobjs)},
		{name: "data_ready_noop", hooks: hooksOf(bpfProgBlDataReady), prog: btfNoop},
		{name: "all", hooks: Hooks},
	}
	if *costBase != "" {
		// Another build's programs, each on the hook this build gives a
		// program of that name, or else on its own section's tp_btf hook.
		bspec, err := ebpf.LoadCollectionSpec(*costBase)
		if err != nil {
			b.Fatalf("-cost.base: %v", err)
		}
		load := func(spec *ebpf.CollectionSpec) *ebpf.Collection {
			coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{KernelTypes: kernel}})
			if err != nil {
				b.Fatalf("-cost.base: loading %s: %v", *costBase, err)
			}
			return coll
		}
		coll := load(bspec.Copy())
		defer coll.Close()
		// And in queue mode, where the other build has one.
		var qcoll *ebpf.Collection
		if v := bspec.Variables[bpfVarQueueMode]; v != nil {
			if err := v.Set(uint32(1)); err != nil {
				b.Fatal(err)
			}
			qcoll = load(bspec)
			defer qcoll.Close()
		}
		var hooks []Hook
		for name, ps := range bspec.Programs {
			switch hs := hooksOf(name); {
			case name == FallbackAcceptHook.Program:
			case len(hs) > 0:
				hooks = append(hooks, hs...)
			default:
				hooks = append(hooks, Hook{Program: name, Tracepoint: ps.SectionName})
			}
		}
		cases = append(cases, costCase{name: "base", hooks: hooks, progs: coll.Programs},
			costCase{name: "base_data_ready", hooks: hooksOf(bpfProgBlDataReady), progs: coll.Programs},
			costCase{name: "base_accept_exit", hooks: hooksOf(bpfProgBlAcceptExit), progs: coll.Programs})
		if qcoll != nil {
			cases = append(cases, costCase{name: "base_data_ready_queue", hooks: hooksOf(bpfProgBlDataReady), progs: qcoll.Programs})
		}
	}
	if *costCases != "" {
		keep := strings.Split(*costCases, ",")
		cases = slices.DeleteFunc(cases, func(c costCase) bool {
			return c.name != "off" && !slices.Contains(keep, c.name)
		})
		if len(cases) != len(keep)+1 {
			b.Fatalf("-cost.cases %q: a name is not one of the cases (off is always run)", *costCases)
		}
	}
	rounds, secs := *costRounds, *costSeconds
	var live *liveLoad
	if *costChunk > 0 {
		if live, err = startLiveLoad(bin, max(*costPin, 1), *costMaxQueued); err != nil {
			b.Fatal(err)
		}
		defer live.stop()
	}
	cpu := map[string][]float64{}
	rate := map[string][]float64{}
	abs := map[string][]float64{} // each case's own CPU per connection, by round
	// The last round runs with the kernel's per-program statistics on
	// (benchconn prints them to stderr): not counted in the medians.
	statsNs := map[string][]float64{} // by "case program": ns per run, one per statistics round
	var statsKeys []string
	for round := range rounds + max(*costStatsRounds, 1) {
		stats := round >= rounds
		base := map[string][2]float64{}
		stalled := false // in a chunk of the live load: the round is not counted
		for i := range cases {
			c := cases[(i+round)%len(cases)]
			progOf := func(h Hook) *ebpf.Program {
				switch {
				case c.prog != nil:
					return c.prog
				case c.progs != nil:
					return c.progs[h.Program]
				}
				return progs[h.Program]
			}
			var links []io.Closer
			for _, h := range c.hooks {
				p := progOf(h)
				l, err := attachHook(h, p, ids)
				if err != nil {
					b.Fatalf("%s: attaching %s: %v", c.name, h.Tracepoint, err)
				}
				links = append(links, l)
			}
			attached := map[string]*ebpf.Program{}
			for _, h := range c.hooks {
				attached[h.Program] = progOf(h)
			}
			var statsOff io.Closer
			before := map[string]ebpf.ProgramStats{}
			if stats {
				if statsOff, err = ebpf.EnableStats(unix.BPF_STATS_RUN_TIME); err != nil {
					b.Fatal(err)
				}
				for name, p := range attached {
					st, err := p.Stats()
					if err != nil {
						b.Fatal(err)
					}
					before[name] = *st
				}
			}
			var conns, r, u float64
			if live != nil {
				conns, r, u, err = live.measure(*costChunk)
				for _, l := range links {
					l.Close()
				}
				if errors.Is(err, errLoadStalled) {
					stalled = true
				} else if err != nil {
					b.Fatalf("%s: %v", c.name, err)
				}
			} else {
				cmd := benchconnCmd(bin, strconv.FormatFloat(secs, 'f', -1, 64)+"s", *costPin)
				var stderr strings.Builder
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				for _, l := range links {
					l.Close()
				}
				if err != nil {
					b.Fatalf("%s: benchconn: %v\n%s", c.name, err, stderr.String())
				}
				f := strings.Fields(string(out))
				if len(f) != 4 {
					b.Fatalf("%s: benchconn printed %q", c.name, out)
				}
				conns, _ = strconv.ParseFloat(f[0], 64)
				r, _ = strconv.ParseFloat(f[2], 64)
				u, _ = strconv.ParseFloat(f[3], 64)
			}
			if stats {
				for name, p := range attached {
					st, err := p.Stats()
					if err != nil {
						b.Fatal(err)
					}
					runs := float64(st.RunCount - before[name].RunCount)
					ns := float64((st.Runtime - before[name].Runtime).Nanoseconds())
					fmt.Printf("statistics %s: %s runs/conn %.2f ns/run %.1f ns/conn %.1f\n",
						c.name, name, runs/conns, ns/max(runs, 1), ns/conns)
					key := c.name + " " + name
					if _, ok := statsNs[key]; !ok {
						statsKeys = append(statsKeys, key)
					}
					statsNs[key] = append(statsNs[key], ns/max(runs, 1))
				}
				statsOff.Close()
			}
			base[c.name] = [2]float64{r, u}
		}
		off := base["off"]
		if stats {
			continue
		}
		if stalled {
			fmt.Printf("round %d: not counted: benchconn made no connection in a chunk (a SYN retransmit wait)\n", round+1)
			continue
		}
		for _, c := range cases {
			abs[c.name] = append(abs[c.name], base[c.name][1])
		}
		for _, c := range cases[1:] {
			v := base[c.name]
			rate[c.name] = append(rate[c.name], 100*(v[0]-off[0])/off[0])
			cpu[c.name] = append(cpu[c.name], v[1]-off[1])
		}
		line := fmt.Sprintf("round %d: off %.0f conn/s %.2f us/conn", round+1, off[0], off[1])
		for _, c := range cases[1:] {
			line += fmt.Sprintf("; %s %+.2f (%.0f/s)", c.name, base[c.name][1]-off[1], base[c.name][0])
		}
		fmt.Println(line)
	}
	var report strings.Builder
	// Time the hypervisor takes from the guest is counted as the guest's
	// CPU time and only ever adds to it: besides the paired median, each
	// case's lowest quartile of CPU per connection over the rounds, less
	// off's, resists that better.
	fmt.Fprintf(&report, "\n| case | median added CPU/conn (µs) | 95%% interval of the median | added at the lowest quartile (µs) | median change in conn/s | 95%% interval |\n|---|---:|---:|---:|---:|---:|\n")
	row := func(name string, d, r []float64, quartile float64) {
		lo, hi := medianInterval(d)
		fmt.Fprintf(&report, "| %s | %+.2f | %+.2f to %+.2f | %+.2f |", name, median(d), lo, hi, quartile)
		if r != nil {
			rlo, rhi := medianInterval(r)
			fmt.Fprintf(&report, " %+.1f%% | %+.1f%% to %+.1f%% |\n", median(r), rlo, rhi)
		} else {
			fmt.Fprintf(&report, " | |\n")
		}
	}
	for _, c := range cases[1:] {
		row(c.name, cpu[c.name], rate[c.name], quantile(abs[c.name], 0.25)-quantile(abs["off"], 0.25))
		b.ReportMetric(median(cpu[c.name]), c.name+"-us/conn")
	}
	if a, o := cpu["all"], cpu["base"]; len(a) > 0 && len(o) == len(a) {
		d := make([]float64, len(a))
		for i := range a {
			d[i] = a[i] - o[i]
		}
		row("all − base, paired by round", d, nil, quantile(abs["all"], 0.25)-quantile(abs["base"], 0.25))
	}
	if *costStatsRounds > 1 {
		slices.Sort(statsKeys)
		fmt.Fprintf(&report, "\n| case and program | median ns/run over %d statistics rounds | 95%% interval |\n|---|---:|---:|\n", *costStatsRounds)
		for _, k := range statsKeys {
			lo, hi := medianInterval(statsNs[k])
			fmt.Fprintf(&report, "| %s | %.1f | %.1f to %.1f |\n", k, median(statsNs[k]), lo, hi)
		}
	}
	fmt.Print(report.String())
}

var (
	costRounds      = flag.Int("cost.rounds", 6, "BenchmarkHookCost: rounds")
	costStatsRounds = flag.Int("cost.stats-rounds", 1, "BenchmarkHookCost: rounds run last with the kernel's per-program statistics on (not counted in the CPU medians); with more than one, the median ns per run of each program is reported")
	costSeconds     = flag.Float64("cost.seconds", 4, "BenchmarkHookCost: seconds per benchconn run")
	costCases       = flag.String("cost.cases", "", "BenchmarkHookCost: comma-separated cases to run beside off (default: all of them)")
	costBase        = flag.String("cost.base", "", "BenchmarkHookCost: another build's bpf_x86_bpfel.o, run as the case base")
	costChunk       = flag.Duration("cost.chunk", 0, "BenchmarkHookCost: run one benchconn throughout (on -cost.pin's CPU, default 1) and measure each case for this long in turn, instead of a benchconn run per case")
	costMaxQueued   = flag.Int("cost.max-queued", 64, "BenchmarkHookCost with -cost.chunk: benchconn's -max-queued")
	costPin         = flag.Int("cost.pin", -1, "BenchmarkHookCost: run benchconn on this CPU only, with GOMAXPROCS=1 (-1: anywhere)")
)

// benchconnCmd runs benchconn for d in a fresh network namespace (unshare
// -n). With pin >= 0 it runs on that CPU only, with GOMAXPROCS=1, 2 clients
// and 1 acceptor (one CPU, one P: the rate no longer depends on where the
// scheduler puts the client and the server), and extra flags; unshare, sh
// and taskset each exec the next, so benchconn keeps the command's PID.
func benchconnCmd(bin, d string, pin int, extra ...string) *exec.Cmd {
	if pin < 0 {
		return exec.Command("unshare", "-n", "sh", "-c", `ip link set lo up && exec "$0" -duration "$1"`, bin, d)
	}
	return exec.Command("unshare", append([]string{"-n", "sh", "-c",
		`bin=$0 d=$1 cpu=$2; shift 2; ip link set lo up && GOMAXPROCS=1 exec taskset -c "$cpu" "$bin" -duration "$d" -clients 2 -acceptors 1 "$@"`,
		bin, d, strconv.Itoa(pin)}, extra...)...)
}

// liveLoad is one benchconn run, pinned to a CPU in its own network
// namespace, by default with at most 64 connections waiting to be accepted
// (-cost.max-queued: so the queue never overflows and no client waits a
// second for a SYN retransmit), measured in chunks: its CPU time from the scheduler's
// per-thread run time (/proc/PID/task/*/schedstat, in ns, with the CPU's
// ksoftirqd) and its
// connections from its namespace's TCP PassiveOpens.
type liveLoad struct {
	cmd *exec.Cmd
	pid int
	// softirqd is the CPU's ksoftirqd: the network receive work the kernel
	// defers there is benchconn's (and the programs run in it), so its run
	// time counts with benchconn's.
	softirqd string
}

// softirqThread is the path of CPU cpu's ksoftirqd under /proc, or "".
func softirqThread(cpu int) string {
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		if b, err := os.ReadFile("/proc/" + d.Name() + "/comm"); err == nil && strings.TrimSpace(string(b)) == fmt.Sprintf("ksoftirqd/%d", cpu) {
			return "/proc/" + d.Name()
		}
	}
	return ""
}

// runNs is a task's time on a CPU so far, from its schedstat.
func runNs(dir string) float64 {
	b, err := os.ReadFile(dir + "/schedstat")
	if err != nil {
		return 0 // a thread that has exited
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func startLiveLoad(bin string, cpu, maxQueued int) (*liveLoad, error) {
	cmd := benchconnCmd(bin, "24h", cpu, "-max-queued", strconv.Itoa(maxQueued)) // until stop
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting benchconn: %w", err)
	}
	l := &liveLoad{cmd: cmd, pid: cmd.Process.Pid, softirqd: softirqThread(cpu)}
	time.Sleep(500 * time.Millisecond) // started, and past its first connections
	return l, nil
}

func (l *liveLoad) stop() {
	l.cmd.Process.Kill()
	l.cmd.Wait()
}

// counters reads benchconn's CPU time in ns and its namespace's passive opens.
func (l *liveLoad) counters() (cpuNs, opens float64, err error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", l.pid))
	if err != nil {
		return 0, 0, fmt.Errorf("benchconn: %w", err)
	}
	for _, t := range tasks {
		cpuNs += runNs(fmt.Sprintf("/proc/%d/task/%s", l.pid, t.Name()))
	}
	if l.softirqd != "" {
		cpuNs += runNs(l.softirqd)
	}
	snmp, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/snmp", l.pid))
	if err != nil {
		return 0, 0, fmt.Errorf("benchconn: %w", err)
	}
	var names []string
	for line := range strings.Lines(string(snmp)) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		if i := slices.Index(names, "PassiveOpens"); i > 0 && i < len(f) {
			opens, _ = strconv.ParseFloat(f[i], 64)
			return cpuNs, opens, nil
		}
	}
	return 0, 0, fmt.Errorf("benchconn: no Tcp PassiveOpens in /proc/%d/net/snmp", l.pid)
}

// errLoadStalled: the live load made no connection in a chunk.
var errLoadStalled = errors.New("benchconn made no connection")

// measure waits for what was just attached to settle, then reads the
// connections, the rate and the CPU per connection over d.
func (l *liveLoad) measure(d time.Duration) (conns, rate, usPerConn float64, err error) {
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	c0, o0, err := l.counters()
	if err != nil {
		return 0, 0, 0, err
	}
	time.Sleep(d)
	c1, o1, err := l.counters()
	if err != nil {
		return 0, 0, 0, err
	}
	conns = o1 - o0
	if conns <= 0 {
		return 0, 0, 0, errLoadStalled
	}
	return conns, conns / time.Since(start).Seconds(), (c1 - c0) / 1e3 / conns, nil
}

// syscallNoop loads a program that returns at once, for the classic
// syscall tracepoints, and reads those tracepoints' IDs; the program is
// closed at the end of b.
func syscallNoop(b *testing.B) (*ebpf.Program, map[string]uint64) {
	b.Helper()
	noop, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "bl_cost_noop", Type: ebpf.TracePoint, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { noop.Close() })
	ids, err := tracepointIDs(Hooks)
	if err != nil {
		b.Fatal(err)
	}
	return noop, ids
}

// quantile is v's q-quantile (0 ≤ q ≤ 1), interpolated between neighbours.
func quantile(v []float64, q float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	x := q * float64(len(s)-1)
	i := int(x)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (x-float64(i))*(s[i+1]-s[i])
}

func median(v []float64) float64 { return quantile(v, 0.5) }

// medianInterval is a distribution-free 95% confidence interval of v's
// median: the order statistics n/2 ∓ 0.98·√n (the binomial's normal
// approximation), or v's extremes for a handful of values.
func medianInterval(v []float64) (lo, hi float64) {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0, 0
	}
	k := max(int(math.Floor(float64(n)/2-0.98*math.Sqrt(float64(n)))), 0)
	return s[k], s[n-1-k]
}

// BenchmarkSyscallTracepointTax measures what enabling the syscall
// tracepoints trace uses costs a system call they do not trace: getppid()
// in a loop on one thread pinned to -cost.pin's CPU (default 1), in chunks
// of 100 ms alternately with and without a program that returns at once on
// syscalls:sys_exit_accept4 and sys_exit_accept. It reports the median
// difference in ns per call over -cost.rounds rounds. Run as root:
//
//	go test ./trace -run '^$' -bench SyscallTracepointTax -benchtime 1x [-args -cost.rounds 40]
func BenchmarkSyscallTracepointTax(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: loads eBPF programs")
	}
	noop, ids := syscallNoop(b)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu := max(*costPin, 0)
	if *costPin < 0 {
		cpu = 1
	}
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		b.Fatalf("pinning to CPU %d: %v", cpu, err)
	}
	chunk := func() float64 {
		start := time.Now()
		n := 0
		for time.Since(start) < 100*time.Millisecond {
			for range 1000 {
				unix.Getppid()
			}
			n += 1000
		}
		return float64(time.Since(start).Nanoseconds()) / float64(n)
	}
	var diffs, offs []float64
	for round := range *costRounds {
		var off, on float64
		for i := range 2 {
			if (i+round)%2 == 0 {
				off = chunk()
				continue
			}
			var links []io.Closer
			for _, h := range Hooks {
				if _, _, classic := classicTracepoint(h.Tracepoint); classic {
					l, err := attachHook(h, noop, ids)
					if err != nil {
						b.Fatal(err)
					}
					links = append(links, l)
				}
			}
			on = chunk()
			for _, l := range links {
				l.Close()
			}
		}
		offs = append(offs, off)
		diffs = append(diffs, on-off)
	}
	fmt.Printf("getppid(): %.1f ns per call with nothing attached (median), +%.1f ns with the syscall tracepoints enabled (median of %d paired chunks; quartiles %+.1f, %+.1f)\n",
		median(offs), median(diffs), len(diffs), quantile(diffs, 0.25), quantile(diffs, 0.75))
	b.ReportMetric(median(diffs), "ns/syscall")
}
