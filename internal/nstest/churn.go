package nstest

import (
	"net"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Churn is load for reliability tests, inside a test's network namespace:
// stable listeners whose connections open and close as fast as clients can
// make them, transient listeners opening and closing (changing the listening
// hash during dumps), and short-lived processes vanishing during /proc scans.
type Churn struct {
	// Ports are the stable listeners' ports; each must appear exactly once
	// in every snapshot taken while the churn runs.
	Ports map[uint16]bool

	conns, errs atomic.Int64
	stop        chan struct{}
	once        sync.Once
	wg          sync.WaitGroup
	lns         []net.Listener
	start       time.Time
}

// StartChurn opens stable listeners on 127.0.0.1 and starts the load; it is
// stopped by Stop or when the test ends.
func StartChurn(t testing.TB, stable int) *Churn {
	t.Helper()
	c := &Churn{Ports: map[uint16]bool{}, stop: make(chan struct{}), start: time.Now()}
	for i := 0; i < stable; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c.lns = append(c.lns, ln)
		c.Ports[uint16(ln.Addr().(*net.TCPAddr).Port)] = true
	}
	t.Cleanup(func() { c.Stop() })
	for _, ln := range c.lns {
		c.wg.Add(1)
		go func(ln net.Listener) {
			defer c.wg.Done()
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				conn.Close()
			}
		}(ln)
	}
	for w := 0; w < 4; w++ {
		c.wg.Add(1)
		go func(w int) {
			defer c.wg.Done()
			for i := w; !c.stopped(); i++ {
				conn, err := net.DialTimeout("tcp", c.lns[i%len(c.lns)].Addr().String(), time.Second)
				if err != nil {
					c.errs.Add(1)
					continue
				}
				conn.Close()
				c.conns.Add(1)
			}
		}(w)
	}
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		for !c.stopped() {
			if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
				ln.Close()
			}
		}
	}()
	go func() {
		defer c.wg.Done()
		for !c.stopped() {
			_ = exec.Command("true").Run()
		}
	}()
	return c
}

func (c *Churn) stopped() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// Stop ends the load and waits for it; it returns the connections completed,
// the rate per second, and the client errors.
func (c *Churn) Stop() (conns int64, perSecond float64, errs int64) {
	c.once.Do(func() {
		close(c.stop)
		for _, ln := range c.lns {
			ln.Close()
		}
		c.wg.Wait()
	})
	elapsed := time.Since(c.start).Seconds()
	return c.conns.Load(), float64(c.conns.Load()) / elapsed, c.errs.Load()
}

// CheckPorts reports the stable ports that appear other than exactly once
// among ports.
func (c *Churn) CheckPorts(ports []uint16) []string {
	seen := map[uint16]int{}
	for _, p := range ports {
		if c.Ports[p] {
			seen[p]++
		}
	}
	var bad []string
	for p := range c.Ports {
		if seen[p] != 1 {
			bad = append(bad, net.JoinHostPort("127.0.0.1", strconv.Itoa(int(p)))+" seen "+strconv.Itoa(seen[p])+" times")
		}
	}
	return bad
}
