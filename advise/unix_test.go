package advise

import (
	"strings"
	"testing"

	"github.com/backlogctl/backlogctl/model"
)

const fpmSock = "/run/php/php8.2-fpm.sock"

// ulst is a Unix listener on fpmSock (inode 7) with the given queue and
// backlog: no drop count, as the kernel keeps none.
func ulst(queue, backlog uint32, owners ...model.Process) model.Listener {
	return model.Listener{Family: "unix", Path: fpmSock, SocketType: "stream",
		AcceptQueue: queue, AcceptQueueMax: backlog, Inode: 7, Processes: owners}
}

func withConf(l model.Listener, c model.ConfiguredBacklog) model.Listener {
	l.ConfiguredBacklog = &c
	return l
}

// withHead is l with the oldest waiting connection's client inode.
func withHead(l model.Listener, head uint32) model.Listener {
	l.QueueHead = head
	return l
}

var gunicornWorker = func() model.Process {
	p := proc(11, "gunicorn", 9, 1024, 4096)
	p.State = "S"
	return p
}()

var fpmConf = model.ConfiguredBacklog{Program: "PHP-FPM", Setting: "listen.backlog", Value: 8, Source: "/etc/php/8.2/fpm/pool.d/www.conf:5"}

func fpmMaster(state string) model.Process {
	p := proc(10, "php-fpm8.2", 12, 1024, 1024)
	p.Cmdline, p.State = "php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)", state
	return p
}

// Unix listeners get the same findings as TCP ones where they apply, about
// their path: full queue below somaxconn (the program's setting), at
// somaxconn (the clamp), at the owner's descriptor limit, pinned full over
// an interval, and an owner stopped; no drop count is needed.
func TestUnixListenerFindings(t *testing.T) {
	ids := []string{"listener-backlog-too-small", "somaxconn-clamps-listener", "accept-queue-full-at-nofile", "listener-not-accepting", "listener-drops-history"}
	fullFPM := ulst(9, 8, fpmMaster("S"))
	stopped := ulst(9, 8, fpmMaster("T"))
	runRuleCases(t, ids, []ruleCase{
		{"empty queue: nothing", once(with(listening(ulst(0, 8, fpmMaster("S"))))), []summary{}},
		{"full below somaxconn: the program's own backlog", once(with(listening(fullFPM))),
			[]summary{{"listener-backlog-too-small", Warning, fpmSock, "", p64(8), p64(4096)}}},
		{"full at somaxconn: the clamp", once(with(setSysctl("net.core.somaxconn", 128), listening(ulst(129, 128, fpmMaster("S"))))),
			[]summary{{"somaxconn-clamps-listener", Warning, fpmSock, "net.core.somaxconn", p64(128), p64(4096)}}},
		{"full with its owner at the descriptor limit", once(with(listening(ulst(9, 8, proc(10, "gunicorn", 1024, 1024, 4096))))),
			[]summary{{"accept-queue-full-at-nofile", Critical, "pid:10", "", p64(1024), p64(65536)}}},
		{"full at both samples: critical", twice(with(listening(fullFPM)), with(listening(fullFPM))),
			[]summary{{"listener-backlog-too-small", Critical, fpmSock, "", p64(8), p64(4096)}}},
		{"held over the interval by a stopped owner", twice(with(listening(stopped)), with(listening(stopped))),
			[]summary{{"listener-not-accepting", Critical, fpmSock, "", nil, nil}}},
		{"the same oldest connection at both samples: nothing accepted", twice(with(listening(withHead(ulst(9, 8, gunicornWorker), 501))), with(listening(withHead(ulst(9, 8, gunicornWorker), 501)))),
			[]summary{{"listener-not-accepting", Critical, fpmSock, "", nil, nil}}},
		{"another oldest connection: some were accepted", twice(with(listening(withHead(ulst(9, 8, gunicornWorker), 501))), with(listening(withHead(ulst(9, 8, gunicornWorker), 517)))),
			[]summary{{"listener-backlog-too-small", Critical, fpmSock, "", p64(8), p64(4096)}}},
		// TcpPassiveOpens not rising says nothing of a Unix listener.
		{"held over the interval by a running owner: no proof it accepts nothing", twice(with(listening(ulst(3, 8, fpmMaster("S")))), with(listening(ulst(3, 8, fpmMaster("S"))))),
			[]summary{}},
	})
}

func TestUnixListenerReasonAndFix(t *testing.T) {
	fs := only(Advise(once(with(listening(withConf(ulst(9, 8, fpmMaster("S")), fpmConf))))), "listener-backlog-too-small")
	if len(fs) != 1 {
		t.Fatalf("findings %+v", fs)
	}
	for _, want := range []string{"EAGAIN", "502", "counts neither", "backlog 8", "its backlog 8 is the program's own: PHP-FPM sets listen.backlog = 8 (/etc/php/8.2/fpm/pool.d/www.conf:5), below"} {
		if !strings.Contains(fs[0].Reason, want) {
			t.Errorf("reason %q lacks %q", fs[0].Reason, want)
		}
	}
	for _, want := range []string{"raise `listen.backlog = 4096` in the PHP-FPM pool", "a reload keeps the listening socket", "Now PHP-FPM sets listen.backlog = 8 (/etc/php/8.2/fpm/pool.d/www.conf:5)"} {
		if !strings.Contains(fs[0].Fix, want) {
			t.Errorf("fix %q lacks %q", fs[0].Fix, want)
		}
	}
	if _, ok := fs[0].Evidence["drops_since_created"]; ok {
		t.Errorf("evidence %v has a drop count a Unix listener does not have", fs[0].Evidence)
	}
}

// The socket's backlog differs from what the program's running
// configuration would give it: php-fpm reloaded after listen.backlog
// changed keeps the old socket.
func TestConfiguredBacklogNotApplied(t *testing.T) {
	raised := fpmConf
	raised.Value = 64
	minus := fpmConf
	minus.Value = -1
	huge := fpmConf
	huge.Value = 65535
	def := model.ConfiguredBacklog{Program: "gunicorn", Setting: "--backlog", Value: 2048, Default: true}
	runRuleCases(t, []string{"configured-backlog-not-applied"}, []ruleCase{
		{"applied", once(with(listening(withConf(ulst(0, 8), fpmConf)))), []summary{}},
		{"raised since the socket was made", once(with(listening(withConf(ulst(0, 8, fpmMaster("S")), raised)))),
			[]summary{{"configured-backlog-not-applied", Info, fpmSock, "", p64(8), p64(64)}}},
		{"raised, and the queue is full now", once(with(listening(withConf(ulst(9, 8, fpmMaster("S")), raised)))),
			[]summary{{"configured-backlog-not-applied", Warning, fpmSock, "", p64(8), p64(64)}}},
		{"-1 is somaxconn", once(with(listening(withConf(ulst(0, 4096), minus)))), []summary{}},
		{"above somaxconn is clamped", once(with(setSysctl("net.core.somaxconn", 1024), listening(withConf(ulst(0, 1024), huge)))), []summary{}},
		{"a default the socket lacks", once(with(listening(withConf(ulst(0, 128), def)))),
			[]summary{{"configured-backlog-not-applied", Info, fpmSock, "", p64(128), p64(2048)}}},
		{"somaxconn unknown: nothing to compare with", once(with(without("net.core.somaxconn"), listening(withConf(ulst(0, 8), raised)))), []summary{}},
	})
	f := only(Advise(once(with(listening(withConf(ulst(0, 8, fpmMaster("S")), raised))))), "configured-backlog-not-applied")[0]
	for _, want := range []string{"PHP-FPM sets listen.backlog = 64 (/etc/php/8.2/fpm/pool.d/www.conf:5)", "socket's backlog is 8"} {
		if !strings.Contains(f.Reason, want) {
			t.Errorf("reason %q lacks %q", f.Reason, want)
		}
	}
	if !strings.Contains(f.Fix, "only a restart calls listen() again") {
		t.Errorf("fix %q does not say a reload is not enough", f.Fix)
	}
}

func TestUnixNotAcceptingReason(t *testing.T) {
	l := withHead(ulst(9, 8, gunicornWorker), 501)
	fs := only(Advise(twice(with(listening(l)), with(listening(l)))), "listener-not-accepting")
	if len(fs) != 1 {
		t.Fatalf("findings %+v", fs)
	}
	for _, want := range []string{"held 9 and holds 9", "still first in line", "gunicorn[11]", "does not call accept()"} {
		if !strings.Contains(fs[0].Reason, want) {
			t.Errorf("reason %q lacks %q", fs[0].Reason, want)
		}
	}
}
