// Command benchlisteners opens N TCP listeners on loopback (ports picked by
// the kernel), prints "ready" and holds them until killed. scripts/bench-watch.sh
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
	flag.Parse()
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	lim.Cur = max(lim.Cur, uint64(*n)+64)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Fprintln(os.Stderr, "benchlisteners: raising RLIMIT_NOFILE:", err)
		os.Exit(1)
	}
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
	}
	fmt.Println("ready")
	time.Sleep(time.Hour)
}
