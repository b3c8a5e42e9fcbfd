package e2e

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
)

// php-fpm behind nginx over a Unix socket with listen.backlog = 8, under
// wrk, through the binary as an operator runs it: inspect --path (table,
// JSON and Prometheus), check on the path, and advise, all about the same
// full queue nginx logs EAGAIN for.
func TestPHPFPMUnixSocketCommands(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	fpm := nstest.StartPHPFPM(t, nstest.PHPFPMOpts{Backlog: 8})
	ng := nstest.StartNginx(t, nstest.NginxOpts{Server: fpm.FastCGI("unix:" + fpm.Socket)})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		nstest.Wrk(t, "http://"+ng.Addr.String()+"/", 64, 4*time.Second)
	}()
	defer wg.Wait()

	var snap model.Snapshot
	nstest.Eventually(t, 10*time.Second, "php-fpm's queue full under wrk", func() bool {
		r := run(t, bin, "inspect", "--path", fpm.Socket, "-o", "json")
		if r.code != 0 {
			t.Fatalf("inspect exit %d: %s", r.code, r.stderr)
		}
		snap = model.Snapshot{}
		if err := json.Unmarshal([]byte(r.stdout), &snap); err != nil {
			t.Fatalf("inspect -o json: %v\n%s", err, r.stdout)
		}
		return len(snap.Listeners) == 1 && snap.Listeners[0].AcceptQueue == 9
	})
	l := snap.Listeners[0]
	if l.Family != "unix" || l.Path != fpm.Socket || l.SocketType != "stream" || l.AcceptQueueMax != 8 || l.Fill != 1 ||
		l.ConfiguredBacklog == nil || l.ConfiguredBacklog.Value != 8 || len(l.Processes) != 3 {
		t.Errorf("inspect JSON listener: %+v", l)
	}

	table := run(t, bin, "inspect", "--path", fpm.Socket)
	if !strings.Contains(table.stdout, "unix\t"+fpm.Socket+"\t") {
		t.Errorf("table lacks the row 'unix <path>':\n%s", table.stdout)
	}
	prom := run(t, bin, "inspect", "--path", fpm.Socket, "-o", "prom")
	if !strings.Contains(prom.stdout, `backlogctl_listener_backlog{address="",container="",namespace="",netns=`) || !strings.Contains(prom.stdout, `path="`+fpm.Socket+`",pod="",port="",process="php-fpm`) {
		t.Errorf("-o prom has no series labelled with the path:\n%s", prom.stdout)
	}
	if strings.Contains(prom.stdout, "backlogctl_listener_syn_queue{") {
		t.Errorf("-o prom has a SYN queue for a Unix listener")
	}

	chk := run(t, bin, "check", "--path", fpm.Socket, "--require", "listener.fill<=0.8")
	if chk.code != 1 || !strings.Contains(chk.stdout, "FAIL\tlistener.fill\t1 ("+fpm.Socket+")") {
		t.Errorf("check exit %d, want 1 with the path:\n%s%s", chk.code, chk.stdout, chk.stderr)
	}
	adv := run(t, bin, "advise", "--path", fpm.Socket, "-o", "json")
	if !strings.Contains(adv.stdout, `"id": "listener-backlog-too-small"`) || !strings.Contains(adv.stdout, `"subject": "`+fpm.Socket+`"`) ||
		!strings.Contains(adv.stdout, "PHP-FPM sets listen.backlog = 8 ("+fpm.Conf) {
		t.Errorf("advise does not blame the pool's listen.backlog for %s:\n%s", fpm.Socket, adv.stdout)
	}
	// --port alone keeps no Unix listener; a relative --path is refused.
	if r := run(t, bin, "inspect", "--port", strconv.Itoa(int(ng.Addr.Port())), "-o", "json"); strings.Contains(r.stdout, fpm.Socket) {
		t.Errorf("--port shows the Unix listener")
	}
	if r := run(t, bin, "inspect", "--path", "php.sock"); r.code != 2 || !strings.Contains(r.stderr, `invalid --path "php.sock"`) {
		t.Errorf("--path php.sock: exit %d, %q", r.code, r.stderr)
	}
}
