package advise

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/trace/tracetest"
)

// burstServer is the Python server: listen(8), then accept one
// connection every 10 ms, keeping each.
const burstServer = `
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
held = []
while True:
    c, _ = s.accept()
    held.append(c)
    time.sleep(0.01)
`

var listenN = regexp.MustCompile(`listen\((\d+)\)`)

// 200 clients connect at once to a Python server that listens with
// backlog 8 and accepts every 10 ms: the accept queue and the SYN queue
// overflow, SYN cookies are sent and cookie ACKs find the queue full.
// advise --trace gives the listener one verdict, consistent end to end:
// the traced high water cited as full (never "not full when sampled ...
// sample faster" beside it), the overflows by site adding up to what
// TcpExtListenOverflows counted, the SYN cookies folded into it without
// "the connections still work", and one backlog to set, never below 8
// (backlog-sizing once offered listen(1) beside listen(32)).
func TestAdviseTracedBurstIsConsistent(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	tracetest.Require(t)
	port := nstest.FreePort(t)
	py := nstest.StartPython(t, port, "-c", burstServer, strconv.Itoa(int(port)))
	r := runJSON(t, tracedOptions(port, 4*time.Second, func() {
		for range 200 {
			nstest.Connect(t, py.Addr)
		}
	}))
	consistent(t, r)
	subject := py.Addr.String()
	fs := advise.FindingsFor(r.Findings, subject)
	if len(fs) != 1 {
		t.Fatalf("findings about %s: %v, want one verdict", subject, ids(r))
	}
	v := fs[0]
	if v.ID != "traced-queue-overflow" || v.Severity != advise.Critical {
		t.Fatalf("verdict %s %s, want a critical traced-queue-overflow: %s", v.Severity, v.ID, v.Reason)
	}
	if r.Trace == nil || len(r.Trace.Listeners) != 1 {
		t.Fatalf("trace evidence %+v", r.Trace)
	}
	tl := r.Trace.Listeners[0]
	total := tl.OverflowsSynTime + tl.OverflowsAckTime + tl.OverflowsCookieAckTime
	if total == 0 || tl.OverflowsCookieAckTime == 0 {
		t.Fatalf("overflows %+v: want the queue overflowed, cookie ACKs among them", tl)
	}
	if !strings.HasPrefix(v.Reason, "the queue was full") || !strings.Contains(v.Reason, fmt.Sprintf("%d overflows (", total)) ||
		!strings.Contains(v.Reason, fmt.Sprintf("TcpExtListenOverflows rose by the same %d", total)) {
		t.Errorf("verdict does not cite the full queue and the overflows as the counters saw them: %s", v.Reason)
	}
	for _, folded := range []string{"listener-backlog-too-small", "syn-queue-overflow-cookies"} {
		if !slices.Contains(v.Folded, folded) {
			t.Errorf("verdict folds %v, want %s among them", v.Folded, folded)
		}
	}
	if !strings.Contains(v.Reason, "believes it is connected") {
		t.Errorf("verdict does not say what became of the clients whose cookie ACK overflowed: %s", v.Reason)
	}
	// One backlog to set, above 8, wherever a number is recommended.
	var wants []int
	for _, f := range r.Findings {
		for _, m := range listenN.FindAllStringSubmatch(f.Fix, -1) {
			n, _ := strconv.Atoi(m[1])
			wants = append(wants, n)
		}
		if f.Recommended != nil && f.Key == "" && *f.Recommended <= 8 {
			t.Errorf("%s recommends %d, not above the backlog of 8 that overflowed", f.ID, *f.Recommended)
		}
	}
	// The verdict may also be that the acceptor is slow (a p99 wait of
	// 100ms or more: 10ms an accept, 9 queued): then no fix names a
	// backlog, and the sizing says what limits the listener is not it.
	slices.Sort(wants)
	if wants = slices.Compact(wants); len(wants) > 1 || len(wants) == 1 && wants[0] <= 8 {
		t.Errorf("fixes ask for listen(%v): want one backlog, above 8", wants)
	}
	if len(wants) == 0 {
		if !strings.Contains(v.Reason, "The acceptor is slow, not the backlog.") {
			t.Errorf("no fix names a backlog, yet the verdict does not say the acceptor is slow: %s", v.Reason)
		}
		if s, ok := advise.FindingByID(r.Findings, "backlog-sizing", ""); ok && !strings.Contains(s.Reason, "is not its backlog") {
			t.Errorf("sizing recommends %v beside a slow acceptor's verdict without saying so: %s", *s.Recommended, s.Reason)
		}
	}
	if r.Sizing != nil && r.Sizing.Backlog < 9 {
		t.Errorf("sizing recommends backlog %d, below what overflowed", r.Sizing.Backlog)
	}
}
