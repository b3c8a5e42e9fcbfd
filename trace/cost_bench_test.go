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
//	go test ./trace -run '^$' -bench HookCost -benchtime 1x [-args -cost.rounds 8 -cost.seconds 4 -cost.cases all,data_ready_noop -cost.pin 1 -cost.base OLD.o]
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
		prog  *ebpf.Program            // instead of each hook's own program
		progs map[string]*ebpf.Program // another build's programs, by name
	}
	cases := []costCase{
		{name: "off"},
		{name: "syscall_tp_noop", hooks: hooksOf(bpfProgBlAcceptExit), prog: noop},
		{name: "accept_exit", hooks: hooksOf(bpfProgBlAcceptExit)},
		{name: "data_ready", hooks: hooksOf(bpfProgBlDataReady)},
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
		coll, err := ebpf.NewCollectionWithOptions(bspec, ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{KernelTypes: kernel}})
		if err != nil {
			b.Fatalf("-cost.base: loading %s: %v", *costBase, err)
		}
		defer coll.Close()
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
		cases = append(cases, costCase{name: "base", hooks: hooks, progs: coll.Programs})
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
	abs := map[string][]float64{} // each case's own CPU per connection, by round
	// The last round runs with the kernel's per-program statistics on
	// (benchconn prints them to stderr): not counted in the medians.
	for round := range rounds + 1 {
		stats := round == rounds
		base := map[string][2]float64{}
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
			cmd := exec.Command("unshare", "-n", "sh", "-c",
				`ip link set lo up && exec "$0" -duration "$1"`, bin, strconv.FormatFloat(secs, 'f', -1, 64)+"s")
			if *costPin >= 0 {
				// One CPU, one P: the rate no longer depends on where the
				// scheduler puts the client and the server.
				cmd = exec.Command("unshare", "-n", "sh", "-c",
					`ip link set lo up && GOMAXPROCS=1 exec taskset -c "$2" "$0" -duration "$1" -clients 2 -acceptors 1`,
					bin, strconv.FormatFloat(secs, 'f', -1, 64)+"s", strconv.Itoa(*costPin))
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
			line += fmt.Sprintf("; %s %+.2f", c.name, base[c.name][1]-off[1])
		}
		fmt.Println(line)
	}
	var report strings.Builder
	// Time the hypervisor takes from the guest is counted as the guest's
	// CPU time and only ever adds to it: besides the paired median, each
	// case's lowest quartile of CPU per connection over the rounds, less
	// off's, resists that better.
	fmt.Fprintf(&report, "\n| case | median added CPU/conn (µs) | added at the lowest quartile (µs) | median change in conn/s |\n|---|---:|---:|---:|\n")
	for _, c := range cases[1:] {
		fmt.Fprintf(&report, "| %s | %+.2f | %+.2f | %+.1f%% |\n", c.name, median(cpu[c.name]),
			quantile(abs[c.name], 0.25)-quantile(abs["off"], 0.25), median(rate[c.name]))
		b.ReportMetric(median(cpu[c.name]), c.name+"-us/conn")
	}
	if a, o := cpu["all"], cpu["base"]; len(a) > 0 && len(o) == len(a) {
		d := make([]float64, len(a))
		for i := range a {
			d[i] = a[i] - o[i]
		}
		fmt.Fprintf(&report, "| all − base, paired by round | %+.2f | %+.2f | |\n", median(d),
			quantile(abs["all"], 0.25)-quantile(abs["base"], 0.25))
	}
	fmt.Print(report.String())
}

var (
	costRounds  = flag.Int("cost.rounds", 6, "BenchmarkHookCost: rounds")
	costSeconds = flag.Float64("cost.seconds", 4, "BenchmarkHookCost: seconds per benchconn run")
	costCases   = flag.String("cost.cases", "", "BenchmarkHookCost: comma-separated cases to run beside off (default: all of them)")
	costBase    = flag.String("cost.base", "", "BenchmarkHookCost: another build's bpf_x86_bpfel.o, run as the case base")
	costPin     = flag.Int("cost.pin", -1, "BenchmarkHookCost: run benchconn on this CPU only, with GOMAXPROCS=1 (-1: anywhere)")
)

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
