// Command benchload is scripts/bench.sh's helper. It has two modes:
//
//	benchload hold -listeners 9000 -conns 40000 -synrecv-port 10999 -ready FILE
//
// opens the listeners and established loopback connections of the benchmark
// in the current network namespace, writes FILE when they are all up, and
// holds them until it receives SIGTERM, SIGINT or SIGHUP. The sockets are
// spread over several "benchload shard" processes, each within its own
// RLIMIT_NOFILE hard limit (raising that needs CAP_SYS_RESOURCE).
//
//	benchload time -runs 21 -case 'label::cmd args&&cmd args' -case ...
//
// runs each case once per round, rotating the order every round so every
// case sees the same background load, and prints the median wall time and
// the peak RSS of each case. A case of several commands joined by && runs
// them one after the other; its time is the sum and its RSS the largest.
//
// It is meant to run inside the namespace bench.sh creates; it never touches
// host-wide settings.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchload hold|shard|time [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "hold":
		err = runHold(os.Args[2:])
	case "shard":
		err = runShard(os.Args[2:])
	case "time":
		err = runTime(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q: want hold, shard or time", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchload: %v\n", err)
		if err == flag.ErrHelp {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
