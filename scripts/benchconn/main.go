// Command benchconn measures loopback TCP connection rate: it listens on
// 127.0.0.1, accepts and closes with -acceptors goroutines, and opens and
// closes connections as fast as -clients goroutines can for -duration, then
// prints "conns SECONDS CONN_PER_SEC CPU_US_PER_CONN" (this process's user+system
// CPU per connection, from getrusage). Clients close with SO_LINGER 0 (a
// RST), so no TIME_WAIT sockets exhaust the ephemeral ports. Run it in a
// private network namespace (scripts/bench-trace.sh does).
//
// With -bpf-stats PREFIX it also turns on the kernel's per-program run-time
// statistics for the run (BPF_ENABLE_STATS: on only while benchconn holds the
// returned descriptor, so nothing stays changed) and prints to stderr, for
// every loaded program whose name starts with PREFIX, "prog NAME RUNS
// RUN_TIME_NS NS_PER_RUN RUNS_PER_CONN NS_PER_CONN" over the run.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

func main() {
	clients := flag.Int("clients", 4, "connecting goroutines")
	acceptors := flag.Int("acceptors", 2, "accepting goroutines")
	duration := flag.Duration("duration", 10*time.Second, "how long to connect")
	maxQueued := flag.Int("max-queued", 0, "connect only while fewer than this many connections wait to be accepted (0: no limit; the accept queue may fill, and a dropped SYN stalls a client for a second)")
	bpfStats := flag.String("bpf-stats", "", "report run time of loaded eBPF programs whose names start with this")
	flag.Parse()
	var stats *progStats
	if *bpfStats != "" {
		var err error
		if stats, err = startProgStats(*bpfStats); err != nil {
			fmt.Fprintln(os.Stderr, "benchconn:", err)
			os.Exit(1)
		}
	}
	n, err := run(*clients, *acceptors, *maxQueued, *duration)
	if err == nil && stats != nil {
		err = stats.report(n)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchconn:", err)
		os.Exit(1)
	}
}

func run(clients, acceptors, maxQueued int, duration time.Duration) (uint64, error) {
	// tokens holds one token per connection made and not yet accepted.
	var tokens chan struct{}
	if maxQueued > 0 {
		tokens = make(chan struct{}, maxQueued)
	}
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	addr := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	if err := unix.Bind(lfd, addr); err != nil {
		return 0, err
	}
	if err := unix.Listen(lfd, 4096); err != nil {
		return 0, err
	}
	sa, err := unix.Getsockname(lfd)
	if err != nil {
		return 0, err
	}
	addr.Port = sa.(*unix.SockaddrInet4).Port
	for range acceptors {
		go func() {
			for {
				fd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
				if err == nil {
					unix.Close(fd)
					if tokens != nil {
						select {
						case <-tokens:
						default:
						}
					}
				}
			}
		}()
	}
	var before unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &before)
	start := time.Now()
	deadline := start.Add(duration)
	var conns atomic.Uint64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if tokens != nil {
					tokens <- struct{}{}
				}
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
				if err := unix.Connect(fd, addr); err != nil {
					unix.Close(fd)
					firstErr.CompareAndSwap(nil, err)
					return
				}
				unix.Close(fd)
				conns.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var after unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &after)
	if e := firstErr.Load(); e != nil {
		return 0, e.(error)
	}
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	n := conns.Load()
	fmt.Printf("%d %.3f %.0f %.3f\n", n, elapsed.Seconds(), float64(n)/elapsed.Seconds(), float64(cpu.Microseconds())/float64(n))
	return n, nil
}

// progStats holds the kernel's run-time statistics on and the programs' counts at the start.
type progStats struct {
	closer interface{ Close() error }
	progs  map[string]*ebpf.Program
	before map[string]ebpf.ProgramStats
}

func startProgStats(prefix string) (*progStats, error) {
	closer, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		return nil, fmt.Errorf("enabling BPF run-time statistics: %w", err)
	}
	ps := &progStats{closer: closer, progs: map[string]*ebpf.Program{}, before: map[string]ebpf.ProgramStats{}}
	for id := ebpf.ProgramID(0); ; {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			break
		}
		id = next
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue
		}
		info, err := p.Info()
		if err != nil || !strings.HasPrefix(info.Name, prefix) {
			p.Close()
			continue
		}
		st, err := p.Stats()
		if err != nil {
			p.Close()
			continue
		}
		// Ascending IDs: a later program of the same name is the newer load.
		if old := ps.progs[info.Name]; old != nil {
			old.Close()
		}
		ps.progs[info.Name], ps.before[info.Name] = p, *st
	}
	if len(ps.progs) == 0 {
		closer.Close()
		return nil, fmt.Errorf("no loaded eBPF program is named %s*", prefix)
	}
	return ps, nil
}

func (ps *progStats) report(conns uint64) error {
	defer ps.closer.Close()
	var total time.Duration
	for name, p := range ps.progs {
		st, err := p.Stats()
		p.Close()
		if err != nil {
			return err
		}
		runs := st.RunCount - ps.before[name].RunCount
		rt := st.Runtime - ps.before[name].Runtime
		total += rt
		per := 0.0
		if runs > 0 {
			per = float64(rt.Nanoseconds()) / float64(runs)
		}
		fmt.Fprintf(os.Stderr, "prog %s %d %d %.1f %.2f %.1f\n", name, runs, rt.Nanoseconds(), per,
			float64(runs)/float64(max(conns, 1)), float64(rt.Nanoseconds())/float64(max(conns, 1)))
	}
	fmt.Fprintf(os.Stderr, "prog total - %d - - %.1f\n", total.Nanoseconds(), float64(total.Nanoseconds())/float64(max(conns, 1)))
	return nil
}
