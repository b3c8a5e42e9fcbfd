// Command benchconn measures loopback TCP connection rate: it listens on
// 127.0.0.1, accepts and closes with -acceptors goroutines, and opens and
// closes connections as fast as -clients goroutines can for -duration, then
// prints "conns SECONDS CONN_PER_SEC CPU_US_PER_CONN" (this process's user+system
// CPU per connection, from getrusage). Clients close with SO_LINGER 0 (a
// RST), so no TIME_WAIT sockets exhaust the ephemeral ports. Run it in a
// private network namespace (scripts/bench-trace.sh does).
package main

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	clients := flag.Int("clients", 4, "connecting goroutines")
	acceptors := flag.Int("acceptors", 2, "accepting goroutines")
	duration := flag.Duration("duration", 10*time.Second, "how long to connect")
	flag.Parse()
	if err := run(*clients, *acceptors, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "benchconn:", err)
		os.Exit(1)
	}
}

func run(clients, acceptors int, duration time.Duration) error {
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	addr := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	if err := unix.Bind(lfd, addr); err != nil {
		return err
	}
	if err := unix.Listen(lfd, 4096); err != nil {
		return err
	}
	sa, err := unix.Getsockname(lfd)
	if err != nil {
		return err
	}
	addr.Port = sa.(*unix.SockaddrInet4).Port
	for range acceptors {
		go func() {
			for {
				fd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
				if err == nil {
					unix.Close(fd)
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
		return e.(error)
	}
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	n := conns.Load()
	fmt.Printf("%d %.3f %.0f %.3f\n", n, elapsed.Seconds(), float64(n)/elapsed.Seconds(), float64(cpu.Microseconds())/float64(n))
	return nil
}
