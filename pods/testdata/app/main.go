// A stand-in workload for the containerd test: `listen ADDR` listens on
// ADDR and waits; anything else (the sandbox's pause role) just waits.
package main

import (
	"net"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "listen" {
		ln, err := net.Listen("tcp", os.Args[2])
		if err != nil {
			os.Exit(1)
		}
		defer ln.Close()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
