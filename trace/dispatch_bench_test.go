package trace

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

var (
	dispatchRounds = flag.Int("dispatch.rounds", 100, "BenchmarkTracepointDispatch: rounds (each measures every case once)")
	dispatchChunk  = flag.Duration("dispatch.chunk", 200*time.Millisecond, "BenchmarkTracepointDispatch: how long each case runs in a round")
	dispatchCPU    = flag.Int("dispatch.cpu", 1, "BenchmarkTracepointDispatch: the CPU the loop is pinned to")
)

// BenchmarkTracepointDispatch measures what one firing of tp_btf/sk_data_ready
// costs the process whose action fires it, before and at the first
// instructions of a program: a thread pinned to one CPU writes a byte into
// one end of a Unix socket pair and reads it from the other, so each
// iteration fires sk_data_ready once (at the reading end, not a listener).
// Each round runs the loop for -dispatch.chunk with nothing attached, with a
// program that returns at once, and with this build's bl_data_ready (which
// returns at its first compare for a socket that is not listening), in an
// order rotated from round to round; the added CPU time of the thread per
// iteration, paired with the same round's run without a program, is the
// cost of one firing. Run as root:
//
//	go test ./trace -run '^$' -bench TracepointDispatch -benchtime 1x [-args -dispatch.rounds 100]
//
// This is why queue mode costs a kept-alive request what it does: the hook
// fires at every data arrival of every socket (docs/BENCHMARKS-trace.md).
func BenchmarkTracepointDispatch(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: loads eBPF programs")
	}
	kernel, err := btf.LoadKernelSpec()
	if err != nil {
		b.Skip("no kernel BTF:", err)
	}
	spec, err := loadBpf()
	if err != nil {
		b.Fatal(err)
	}
	var objs bpfObjects
	if err := spec.LoadAndAssign(&objs, &ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{KernelTypes: kernel}}); err != nil {
		b.Fatal(err)
	}
	defer objs.Close()
	noop, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "bl_cost_btf_noop", Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp,
		AttachTo: "sk_data_ready", License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer noop.Close()
	cases := []struct {
		name string
		prog *ebpf.Program
	}{{"off", nil}, {"noop", noop}, {"bl_data_ready", objs.BlDataReady}}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var cpus unix.CPUSet
	cpus.Set(*dispatchCPU)
	if err := unix.SchedSetaffinity(0, &cpus); err != nil {
		b.Fatalf("pinning to CPU %d: %v", *dispatchCPU, err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	// loop runs write/read pairs for a chunk: the thread's CPU time per pair.
	loop := func() (float64, error) {
		buf := []byte{1}
		start := time.Now()
		t0, err := threadCPU()
		if err != nil {
			return 0, err
		}
		n := 0
		for time.Since(start) < *dispatchChunk {
			for range 1000 {
				if _, err := unix.Write(fds[0], buf); err != nil {
					return 0, err
				}
				if _, err := unix.Read(fds[1], buf); err != nil {
					return 0, err
				}
			}
			n += 1000
		}
		t1, err := threadCPU()
		if err != nil {
			return 0, err
		}
		return float64(t1-t0) / float64(n), nil
	}
	added := map[string][]float64{}
	var offs []float64
	for round := range *dispatchRounds {
		ns := map[string]float64{}
		for i := range cases {
			c := cases[(i+round)%len(cases)]
			var l link.Link
			if c.prog != nil {
				if l, err = link.AttachTracing(link.TracingOptions{Program: c.prog}); err != nil {
					b.Fatalf("attaching %s: %v", c.name, err)
				}
			}
			v, err := loop()
			if l != nil {
				l.Close()
			}
			if err != nil {
				b.Fatal(err)
			}
			ns[c.name] = v
		}
		offs = append(offs, ns["off"])
		for _, c := range cases[1:] {
			added[c.name] = append(added[c.name], ns[c.name]-ns["off"])
		}
	}
	b.Logf("off: median %.1f ns per write and read, %d rounds of %s", median(offs), *dispatchRounds, *dispatchChunk)
	b.Logf("| program on tp_btf/sk_data_ready | added ns per firing, median (95%% interval) |")
	b.Logf("|---|---:|")
	for _, c := range cases[1:] {
		lo, hi := medianInterval(added[c.name])
		b.Logf("| %s | %+.1f (%+.1f to %+.1f) |", c.name, median(added[c.name]), lo, hi)
		b.ReportMetric(median(added[c.name]), c.name+"-ns/fire")
	}
}

// threadCPU is the calling thread's CPU time in ns.
func threadCPU() (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, fmt.Errorf("reading the thread's CPU time: %w", err)
	}
	return ts.Nano(), nil
}
