package advise

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/internal/nstest"
)

func unixOptions(path string) *Options {
	return &Options{Paths: []string{path}, Collect: collect.Samples}
}

// gunicorn's one sync worker is held in a request (alive, sleeping) while
// its queue fills: over an interval advise proves nothing was accepted --
// the same connection is first in line at both samples -- and says the
// worker is not accepting, not that the backlog is too small.
func TestAdviseStalledGunicorn(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	g := nstest.StartGunicorn(t, nstest.GunicornOpts{Backlog: 16, Workers: 1})
	g.Stall(t)
	if n := nstest.FillUnix(t, unix.SOCK_STREAM, g.Socket, 100); n != 17 {
		t.Fatalf("%d connections queued, want 17", n)
	}
	o := unixOptions(g.Socket)
	o.Interval, o.IntervalSet = time.Second, true
	r := runJSON(t, o)
	f, ok := advise.FindingByID(r.Findings, "listener-not-accepting", g.Socket)
	if !ok {
		t.Fatalf("no listener-not-accepting for %s in %v", g.Socket, ids(r))
	}
	if f.Severity != advise.Critical || !strings.Contains(f.Reason, "still first in line") || !strings.Contains(f.Reason, "gunicorn") {
		t.Errorf("finding %s: %q", f.Severity, f.Reason)
	}
	if _, ok := advise.FindingByID(r.Findings, "listener-backlog-too-small", g.Socket); ok {
		t.Errorf("a bigger backlog recommended for a queue nobody accepts from: %v", ids(r))
	}
}

// php-fpm reloaded with a bigger listen.backlog keeps its socket: advise
// names the setting, where it is, and that only a restart applies it.
func TestAdvisePHPFPMReloadedBacklog(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	fpm := nstest.StartPHPFPM(t, nstest.PHPFPMOpts{Backlog: 8})
	fpm.Reload(t, 64)
	r := runJSON(t, unixOptions(fpm.Socket))
	f, ok := advise.FindingByID(r.Findings, "configured-backlog-not-applied", fpm.Socket)
	if !ok {
		m, err := collect.Snapshot(collect.Options{Paths: []string{fpm.Socket}, Owners: collect.OwnersOn})
		if err == nil {
			for _, l := range m.Namespaces[0].Listeners {
				t.Logf("now: backlog %d configured %+v owners %+v", l.AcceptQueueMax, l.ConfiguredBacklog, l.Processes)
			}
		}
		t.Fatalf("no configured-backlog-not-applied for %s in %v", fpm.Socket, ids(r))
	}
	if *f.Current != 8 || *f.Recommended != 64 || !strings.Contains(f.Reason, "PHP-FPM sets listen.backlog = 64 ("+fpm.Conf+":") ||
		!strings.Contains(f.Fix, "only a restart calls listen() again") {
		t.Errorf("finding current=%d recommended=%d\nreason %q\nfix %q", *f.Current, *f.Recommended, f.Reason, f.Fix)
	}
}
