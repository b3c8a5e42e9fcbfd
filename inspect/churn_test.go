package inspect

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
)

// churnDuration bounds the load test; BACKLOGCTL_CHURN_SECONDS makes it longer
// for the figures in docs/RELIABILITY.md.
func churnDuration() time.Duration {
	if s, err := strconv.Atoi(os.Getenv("BACKLOGCTL_CHURN_SECONDS")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 3 * time.Second
}

// While thousands of connections per second churn through listeners,
// transient listeners open and close, and short-lived processes come and go,
// every snapshot still holds each stable listener exactly once, with no error.
func TestSnapshotUnderChurn(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	const stable = 200
	stablePorts := map[uint16]bool{}
	var lns []net.Listener
	for i := 0; i < stable; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		lns = append(lns, ln)
		stablePorts[uint16(ln.Addr().(*net.TCPAddr).Port)] = true
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var conns, churnErrs atomic.Int64
	// Servers accept and close at once.
	for _, ln := range lns {
		wg.Add(1)
		go func(ln net.Listener) {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}(ln)
	}
	// Clients connect and close as fast as they can.
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", lns[i%stable].Addr().String(), time.Second)
				if err != nil {
					churnErrs.Add(1)
					continue
				}
				c.Close()
				conns.Add(1)
			}
		}(w)
	}
	// Transient listeners change the listening hash during dumps.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err == nil {
				ln.Close()
			}
		}
	}()
	// Processes vanish during the /proc scan.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = exec.Command("true").Run()
		}
	}()

	deadline := time.Now().Add(churnDuration())
	snapshots := 0
	start := time.Now()
	for time.Now().Before(deadline) {
		snap, err := Gather(Options{Processes: true})
		if err != nil {
			close(stop)
			t.Fatalf("snapshot %d under churn: %v", snapshots, err)
		}
		seen := map[uint16]int{}
		for _, l := range snap.Listeners {
			if stablePorts[l.Port] {
				seen[l.Port]++
			}
		}
		for p := range stablePorts {
			if seen[p] != 1 {
				close(stop)
				t.Fatalf("snapshot %d: stable listener on port %d seen %d times", snapshots, p, seen[p])
			}
		}
		for _, w := range snap.Warnings {
			close(stop)
			t.Fatalf("snapshot %d: unexpected warning as root: %s", snapshots, w)
		}
		snapshots++
	}
	close(stop)
	for _, ln := range lns {
		ln.Close()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	if conns.Load() == 0 {
		t.Fatal("no connections churned: the load did not run")
	}
	t.Logf("churn: %d connections in %.1fs (%.0f/s), %d connect errors, %d snapshots, 0 snapshot errors",
		conns.Load(), elapsed, float64(conns.Load())/elapsed, churnErrs.Load(), snapshots)
}
