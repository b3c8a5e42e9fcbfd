// Command benchlisteners opens N TCP listeners on loopback (ports picked by
// the kernel), prints "ready" and holds them until killed; with -traffic it
// also makes and accepts one connection on each every second, so that
// traced evidence (accept waits) exists for every listener. scripts/bench-watch.sh
// runs it in a private network namespace to measure watch and exporter.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	n := flag.Int("n", 1000, "listeners to open")
	traffic := flag.Bool("traffic", false, "connect to and accept from every listener once a second")
	flag.Parse()
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	lim.Cur = max(lim.Cur, uint64(*n)+64)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Fprintln(os.Stderr, "benchlisteners: raising RLIMIT_NOFILE:", err)
		os.Exit(1)
	}
	var fds []int
	for i := 0; i < *n; i++ {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err == nil {
			err = unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
		}
		if err == nil {
			err = unix.Listen(fd, 128)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "benchlisteners: listener %d: %v\n", i, err)
			os.Exit(1)
		}
		fds = append(fds, fd)
	}
	fmt.Println("ready")
	if !*traffic {
		time.Sleep(time.Hour)
		return
	}
	// Bounded: an hour at most, like the idle case.
	for end := time.Now().Add(time.Hour); time.Now().Before(end); time.Sleep(time.Second) {
		for _, fd := range fds {
			roundTrip(fd)
		}
	}
}

// roundTrip connects to the listener fd over loopback and accepts the
// connection, closing both ends.
func roundTrip(fd int) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return
	}
	c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(c)
	if unix.Connect(c, sa) != nil {
		return
	}
	if a, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC); err == nil {
		unix.Close(a)
	}
}
