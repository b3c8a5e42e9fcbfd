// A stand-in workload for the tests that run pods in a real containerd.
//
//	app listen ADDR                      listen (Go's backlog: somaxconn) and wait
//	app serve ADDR BACKLOG EVERY [NOFILE]
//	                                     listen with BACKLOG; accept one
//	                                     connection every EVERY (a Go
//	                                     duration; 0: never); with NOFILE, at
//	                                     that RLIMIT_NOFILE with every
//	                                     descriptor below it taken, so each
//	                                     accept() fails with EMFILE
//
// Anything else (the sandbox's pause role) just waits for SIGTERM.
package main

import (
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	switch {
	case len(os.Args) == 3 && os.Args[1] == "listen":
		ln, err := net.Listen("tcp", os.Args[2])
		if err != nil {
			os.Exit(1)
		}
		defer ln.Close()
	case len(os.Args) >= 5 && os.Args[1] == "serve":
		if err := serve(os.Args[2], os.Args[3], os.Args[4], os.Args[5:]); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}

func serve(addr, backlog, every string, nofile []string) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(backlog)
	if err != nil {
		return err
	}
	pause, err := time.ParseDuration(every)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		return err
	}
	if len(nofile) > 0 {
		limit, err := strconv.ParseUint(nofile[0], 10, 64)
		if err != nil {
			return err
		}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: limit, Max: limit}); err != nil {
			return err
		}
		for { // take every descriptor below the limit
			if _, err := unix.Dup(fd); err != nil {
				break
			}
		}
	}
	if err := unix.Listen(fd, n); err != nil {
		return err
	}
	if pause == 0 {
		return nil
	}
	go func() {
		for {
			if c, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC); err == nil {
				unix.Close(c)
			}
			time.Sleep(pause)
		}
	}()
	return nil
}
