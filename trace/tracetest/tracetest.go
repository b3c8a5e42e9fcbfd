// Package tracetest is what tests that need eBPF tracing share: one probe
// of what the kernel allows, and one rule for when it does not.
package tracetest

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/trace"
)

// Require probes the kernel (trace.Check) and returns when every program
// loads and attaches. Where they do not, a test skips saying why -- except
// under CI (CI=true) on a kernel with BTF, where tracing is expected to
// work: the test fails there, with the probe's reason, rather than letting a
// run that traced nothing pass. A kernel without BTF skips even under CI.
func Require(t testing.TB) {
	t.Helper()
	p, err := trace.Check()
	if err == nil && p.OK() {
		return
	}
	why := Reason(p, err)
	switch {
	case errors.Is(err, trace.ErrNoBTF):
		t.Skipf("%s needs eBPF tracing; this kernel has no BTF: %s", t.Name(), why)
	case os.Getenv("CI") == "true":
		t.Fatalf("%s needs eBPF tracing, and this kernel has BTF, but the probe failed: %s", t.Name(), why)
	}
	t.Skipf("eBPF tracing is not available here: %s", why)
}

// Reason says in one line why the probe failed: its error, and each
// program that did not attach with why.
func Reason(p *trace.Probe, err error) string {
	var parts []string
	if err != nil {
		parts = append(parts, err.Error())
	}
	if p != nil {
		if p.Error != "" && (err == nil || p.Error != err.Error()) {
			parts = append(parts, p.Error)
		}
		if p.BTF && !p.Loaded && p.Error == "" {
			parts = append(parts, "the programs did not load")
		}
		for _, h := range p.Hooks {
			if !h.Attached {
				parts = append(parts, fmt.Sprintf("%s at %s did not attach: %s", h.Program, h.Tracepoint, h.Error))
			}
		}
	}
	if len(parts) == 0 {
		return "no reason given"
	}
	return strings.Join(parts, "; ")
}

// Key is the listening socket fd's key in the programs' maps: the network
// namespace of the calling thread and the socket's cookie.
func Key(t testing.TB, fd int) trace.Key {
	t.Helper()
	cookie, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_COOKIE)
	if err != nil {
		t.Fatalf("SO_COOKIE: %v", err)
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		t.Fatal(err)
	}
	return trace.Key{Netns: st.Ino, Cookie: cookie}
}
