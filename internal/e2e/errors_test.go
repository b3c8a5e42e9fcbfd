package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/netns/netnstest"
)

// Each error names what was wrong and what to do, on one line, with the
// documented exit code.
func TestErrorsThatHelp(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatalf("setpriv (util-linux) is needed: %v", err)
	}
	name := netnstest.Named(t)
	for _, tt := range []struct {
		name string
		argv []string
		code int
		want []string
		not  []string
	}{
		{"a missing namespace lists those that exist", []string{bin, "inspect", "--netns", name + "-typo"}, 2,
			[]string{`invalid --netns "` + name + `-typo": no such network namespace`, "under /run/netns there are: ", name, "/proc/PID/ns/net"}, nil},
		{"--netns without root says to run as root", asNobody("inspect", "--netns", name), 3,
			[]string{"operation not permitted", "needs root (CAP_SYS_ADMIN)"}, nil},
		{"trace without the capabilities names them", asNobody("trace", "--duration", "1s"), 3,
			[]string{"the kernel refused to load trace's eBPF programs", "lacks CAP_BPF and CAP_PERFMON", "run trace as root"}, nil},
		{"an unknown key: did you mean", []string{bin, "sysctl", "get", "somaxconx"}, 2,
			[]string{`"somaxconx"; did you mean "somaxconn"?`}, nil},
		{"an unknown subject: did you mean", []string{bin, "check", "--require", "listner.fill<1"}, 2,
			[]string{`unknown subject "listner.fill"`, `did you mean "listener.fill"?`}, nil},
		{"an unknown field: did you mean", []string{bin, "check", "--require", "listener.fil<1"}, 2,
			[]string{`unknown listener field "fil"`, `did you mean "fill"?`}, nil},
		{"an unknown topic: did you mean", []string{bin, "explain", "syn-queu"}, 2,
			[]string{`unknown topic "syn-queu"; did you mean "syn-queue"?`}, nil},
		{"an unknown profile: did you mean", []string{bin, "tune", "--profile", "high-concurency"}, 2,
			[]string{`unknown profile "high-concurency"`, `did you mean "high-concurrency"?`}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.argv...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d; stderr %q", r.code, tt.code, r.stderr)
			}
			if strings.Count(strings.TrimSuffix(r.stderr, "\n"), "\n") != 0 {
				t.Errorf("stderr is not one line: %q", r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr %q lacks %q", r.stderr, w)
				}
			}
		})
	}
}

// check's failure of a counter judged by its total points at --observe,
// which check has, not at advise's --interval.
func TestCheckCounterFailurePointsAtObserve(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	r := run(t, bin, "check", "--require", "counter.TcpExtListenOverflows<0", "--require", "counter.TcpExtListenDrops<0")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (a counter is never below 0); stderr %q", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "--observe") || strings.Contains(r.stdout, "--interval") {
		t.Errorf("the reason should point at --observe, not --interval:\n%s", r.stdout)
	}
}

// Flags a command always refuses are left out of its help; rlimit set's
// --allow-lower speaks of limits.
func TestHelpShowsNoRefusedFlags(t *testing.T) {
	for _, argv := range [][]string{{"rlimit", "set", "--help"}, {"sysctl", "set", "--help"}, {"tune", "--help"}} {
		r := run(t, append([]string{bin}, argv...)...)
		_, flags, _ := strings.Cut(r.stdout, "\nFlags:\n")
		if flags == "" || strings.Contains(flags, "refused") || strings.Contains(flags, "--all-netns") {
			t.Errorf("%v shows a refused flag:\n%s", argv, flags)
		}
	}
	r := run(t, bin, "rlimit", "set", "--help")
	if strings.Contains(r.stdout, "tcp_syncookies") || !strings.Contains(r.stdout, "RLIMIT_NOFILE below") {
		t.Errorf("rlimit set --allow-lower's help:\n%s", r.stdout)
	}
}
