package check

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/check"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/nstest"
)

// A real listener a third full (3 of backlog 8, full at 9) reads 0.3333 in
// check's text, and keeps its exact value in JSON.
func TestFillRoundedInText(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 8, nstest.ListenOpts{})
	for i := 0; i < 3; i++ {
		nstest.Connect(t, ep)
	}
	nstest.Eventually(t, 5*time.Second, "3 connections in the accept queue", func() bool {
		ls, err := inspect.Listeners(nil, []uint16{ep.Port()})
		return err == nil && len(ls) == 1 && ls[0].AcceptQueue == 3
	})
	port := strconv.Itoa(int(ep.Port()))
	r := runReal(t, "--port", port, "--require", "listener.fill<0.9")
	if want := "PASS\tlistener.fill\t0.3333 (" + ep.String() + ")"; r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Errorf("exit %d, text:\n%s\nwant a line with %q", r.code, r.stdout, want)
	}
	r = runReal(t, "--port", port, "--require", "listener.fill<0.9", "-o", "json")
	if !strings.Contains(r.stdout, `"observed": 0.3333333333333333`) {
		t.Errorf("JSON lost the exact fill:\n%s", r.stdout)
	}
}

// The failing values a JUnit or GitHub message lists are rounded as the
// observed one is (they once printed every digit of a float).
func TestFailingValuesRoundedInMessages(t *testing.T) {
	res := check.Result{Subject: "listener.accept_wait_max", Op: "<", Expected: "1", Evaluated: true, Status: check.StatusFail,
		Observed: "2.418293847", Where: "127.0.0.1:80", Failing: []string{"127.0.0.1:80=2.418293847", "127.0.0.1:81=1.3333333333333333"}}
	m := message(res)
	if !strings.Contains(m, "observed 2.418 (127.0.0.1:80, 2 failing)") || !strings.Contains(m, "failing: 127.0.0.1:80=2.418 127.0.0.1:81=1.333") {
		t.Errorf("message %q: want every value rounded to 4 significant digits", m)
	}
}
