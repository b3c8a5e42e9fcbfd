package trace

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

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
//	go test ./trace -run '^$' -bench HookCost -benchtime 1x [-args -cost.rounds 8 -cost.seconds 4 -cost.cases all,set_state_noop -cost.pin 1]
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
	noop, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "bl_cost_noop", Type: ebpf.TracePoint, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer noop.Close()
	// The same at a tp_btf hook that runs ~6 times per connection: with the
	// kernel's run-time statistics on, its time per run is what the
	// statistics and the dispatch add to every run of every program.
	btfNoop, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "bl_cost_btf_noop", Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp,
		AttachTo: "inet_sock_set_state", License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer btfNoop.Close()
	ids, err := tracepointIDs(Hooks)
	if err != nil {
		b.Fatal(err)
	}
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
		prog  *ebpf.Program // instead of each hook's own program
	}
	cases := []costCase{
		{name: "off"},
		{name: "syscall_tp_noop", hooks: hooksOf(bpfProgBlAcceptExit), prog: noop},
		{name: "accept_exit", hooks: hooksOf(bpfProgBlAcceptExit)},
		{name: "set_state", hooks: hooksOf(bpfProgBlSetState)},
		{name: "set_state_noop", hooks: hooksOf(bpfProgBlSetState), prog: btfNoop},
		{name: "data_ready", hooks: hooksOf(bpfProgBlDataReady)},
		{name: "all", hooks: Hooks},
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
	cpu := map[string][]float64{}
	rate := map[string][]float64{}
	// The last round runs with the kernel's per-program statistics on
	// (benchconn prints them to stderr): not counted in the medians.
	for round := range rounds + 1 {
		stats := round == rounds
		base := map[string][2]float64{}
		for i := range cases {
			c := cases[(i+round)%len(cases)]
			var links []io.Closer
			for _, h := range c.hooks {
				p := progs[h.Program]
				if c.prog != nil {
					p = c.prog
				}
				l, err := attachHook(h, p, ids)
				if err != nil {
					b.Fatalf("%s: attaching %s: %v", c.name, h.Tracepoint, err)
				}
				links = append(links, l)
			}
			attached := map[string]*ebpf.Program{}
			for _, h := range c.hooks {
				p := progs[h.Program]
				if c.prog != nil {
					p = c.prog
				}
				attached[h.Program] = p
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
			cmd := exec.Command("unshare", "-n", "sh", "-c",
				`ip link set lo up && exec "$0" -duration "$1"`, bin, strconv.Itoa(secs)+"s")
			if *costPin >= 0 {
				// One CPU, one P: the rate no longer depends on where the
				// scheduler puts the client and the server.
				cmd = exec.Command("unshare", "-n", "sh", "-c",
					`ip link set lo up && GOMAXPROCS=1 exec taskset -c "$2" "$0" -duration "$1" -clients 2 -acceptors 1`,
					bin, strconv.Itoa(secs)+"s", strconv.Itoa(*costPin))
			}
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
			if stats {
				conns, _ := strconv.ParseFloat(f[0], 64)
				for name, p := range attached {
					st, err := p.Stats()
					if err != nil {
						b.Fatal(err)
					}
					runs := float64(st.RunCount - before[name].RunCount)
					ns := float64((st.Runtime - before[name].Runtime).Nanoseconds())
					fmt.Printf("statistics %s: %s runs/conn %.2f ns/run %.1f ns/conn %.1f\n",
						c.name, name, runs/conns, ns/max(runs, 1), ns/conns)
				}
				statsOff.Close()
			}
			r, _ := strconv.ParseFloat(f[2], 64)
			u, _ := strconv.ParseFloat(f[3], 64)
			base[c.name] = [2]float64{r, u}
		}
		off := base["off"]
		if stats {
			break
		}
		for _, c := range cases[1:] {
			v := base[c.name]
			rate[c.name] = append(rate[c.name], 100*(v[0]-off[0])/off[0])
			cpu[c.name] = append(cpu[c.name], v[1]-off[1])
		}
		fmt.Printf("round %d: off %.0f conn/s %.2f us/conn\n", round+1, off[0], off[1])
	}
	var report strings.Builder
	fmt.Fprintf(&report, "\n| case | median added CPU/conn (µs) | median change in conn/s |\n|---|---:|---:|\n")
	for _, c := range cases[1:] {
		fmt.Fprintf(&report, "| %s | %+.2f | %+.1f%% |\n", c.name, median(cpu[c.name]), median(rate[c.name]))
		b.ReportMetric(median(cpu[c.name]), c.name+"-us/conn")
	}
	fmt.Print(report.String())
}

var (
	costRounds  = flag.Int("cost.rounds", 6, "BenchmarkHookCost: rounds")
	costSeconds = flag.Int("cost.seconds", 4, "BenchmarkHookCost: seconds per benchconn run")
	costCases   = flag.String("cost.cases", "", "BenchmarkHookCost: comma-separated cases to run beside off (default: all of them)")
	costPin     = flag.Int("cost.pin", -1, "BenchmarkHookCost: run benchconn on this CPU only, with GOMAXPROCS=1 (-1: anywhere)")
)

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
