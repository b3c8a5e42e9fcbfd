package advise

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nsflag"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/netns"
	"github.com/backlogctl/backlogctl/netns/netnstest"
	"github.com/backlogctl/backlogctl/trace/tracetest"
)

// runAdvise runs `advise ARGS` on the real host, in process.
func runAdvise(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ios, _, out, errOut := iostreams.Test()
	f := &cmdutil.Factory{IOStreams: ios, Roots: hostfs.Host()}
	cmd := NewCmdAdvise(f, nil)
	cmd.SetArgs(append(args, "--state-dir", t.TempDir()))
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	if err != nil {
		errOut.WriteString(err.Error())
	}
	return cmdutil.ExitCode(err), out.String(), errOut.String()
}

// somaxconnFinding reports whether r recommends raising somaxconn.
func somaxconnFinding(r *Report) bool {
	for _, f := range r.Findings {
		if f.Subject == "net.core.somaxconn" || strings.Contains(f.ID, "somaxconn") {
			return true
		}
	}
	return false
}

// fill connects to 127.0.0.1:port from inside the namespace at path until
// the listener's accept queue is full (nobody accepts).
func fill(t *testing.T, path string, port uint16, conns int) {
	t.Helper()
	err := netns.Do(path, func() error {
		for range conns {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			t.Cleanup(func() { unix.Close(fd) })
			err = unix.Connect(fd, &unix.SockaddrInet4{Port: int(port), Addr: [4]byte{127, 0, 0, 1}})
			if err != nil && err != unix.EINPROGRESS {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// advise judges the namespace --netns names (its somaxconn of 2 clamps a
// listener asking for 1000, whose queue is full), and every namespace with
// --all-netns, each on its own: the clamped one has the finding, the other
// does not.
func TestAdviseInNamespaces(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	a, b := netnstest.Hold(t), netnstest.Hold(t)
	port := nstest.PrepareNetns(t, a, 2, 1000)
	fill(t, a, port, 6)
	nstest.PrepareNetns(t, b, 4096, 0)
	nsA, err := netns.Resolve(a, "")
	if err != nil {
		t.Fatal(err)
	}
	nsB, err := netns.Resolve(b, "")
	if err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runAdvise(t, "--netns", a, "-o", "json")
	var one Report
	if err := json.Unmarshal([]byte(out), &one); err != nil {
		t.Fatalf("exit %d: %v\n%s%s", code, err, out, errOut)
	}
	if one.Netns == nil || one.Netns.Inode != nsA.Inode || !somaxconnFinding(&one) {
		t.Errorf("advise --netns a: netns %+v, findings %+v; want a's clamp judged", one.Netns, one.Findings)
	}

	code, out, errOut = runAdvise(t, "--all-netns", "-o", "json")
	var all multiReport
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		t.Fatalf("exit %d: %v\n%s%s", code, err, out, errOut)
	}
	seen := map[uint64]bool{}
	for _, r := range all.Namespaces {
		switch r.Netns.Inode {
		case nsA.Inode:
			seen[nsA.Inode] = somaxconnFinding(r)
		case nsB.Inode:
			seen[nsB.Inode] = !somaxconnFinding(r)
		}
	}
	if !seen[nsA.Inode] || !seen[nsB.Inode] {
		t.Errorf("advise --all-netns: a judged clamped %v, b judged fine %v; want both\n%s", seen[nsA.Inode], seen[nsB.Inode], out)
	}
	if code, _, errOut := runAdvise(t, "--netns", a, "--all-netns"); code != cmdutil.ExitUsage {
		t.Errorf("both flags: exit %d (%s), want %d", code, errOut, cmdutil.ExitUsage)
	}
}

// advise --netns NS --trace traces NS: the evidence lists NS's listeners,
// not those of the namespace advise runs in, and the traced findings are
// about them (it once traced the caller's namespace, so a full queue in NS
// had no traced finding).
func TestAdviseTraceInNamespace(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	tracetest.Require(t)
	a := netnstest.Hold(t)
	port := nstest.PrepareNetns(t, a, 2, 1000)
	fill(t, a, port, 6)
	_, here := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 8, nstest.ListenOpts{})

	code, out, errOut := runAdvise(t, "--netns", a, "--trace", "500ms", "-o", "json")
	var r Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("exit %d: %v\n%s%s", code, err, out, errOut)
	}
	if r.Trace == nil {
		t.Fatalf("no trace evidence: %s", errOut)
	}
	var ports []uint16
	for _, l := range r.Trace.Listeners {
		ports = append(ports, l.Port)
	}
	if !slices.Contains(ports, port) || slices.Contains(ports, here.Port()) {
		t.Errorf("traced listeners on ports %v: want %d, the namespace's, and not %d, the caller's", ports, port, here.Port())
	}
	subject := fmt.Sprintf("127.0.0.1:%d", port)
	// Nobody accepts there: the verdict says so, with the traced overflow
	// folded into it.
	if fs := advise.FindingsFor(r.Findings, subject); len(fs) != 1 || !slices.Contains(fs[0].Folded, "traced-queue-overflow") ||
		!strings.Contains(fs[0].Reason, "The queue was full: it reached 3 of 3 (backlog+1)") {
		t.Errorf("want one verdict for %s's full queue, citing its traced high water: %v", subject, fs)
	}
}

// advise --all-netns --trace D traces every namespace in one window, with
// one set of programs: connections made in three namespaces once, when
// the programs are attached, are each seen enqueued in its own namespace,
// and every namespace's report has the same window (it once traced them
// one after another, D each: a namespace after the first saw nothing of
// what happened before its own window). advise --netns NS --trace traces
// NS itself (its programs once filtered the caller's namespace instead).
func TestAdviseAllNetnsTracesAtOnce(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	tracetest.Require(t)
	type target struct {
		path string
		port uint16
	}
	var targets []target
	for range 3 {
		p := netnstest.Hold(t)
		targets = append(targets, target{p, nstest.PrepareNetns(t, p, 4096, 64)})
	}
	run := func(flags nsflag.Flags) []*Report {
		t.Helper()
		ios, _, out, _ := iostreams.Test()
		o := &Options{IO: ios, Output: "json", Namespaces: flags, Trace: time.Second, TraceSet: true, StateDir: t.TempDir(),
			Collect: func(co collect.Options, so collect.SampleOptions) ([]*model.Samples, []string, error) {
				so.Ready = func() {
					for _, tg := range targets {
						fill(t, tg.path, tg.port, 3)
					}
				}
				return collect.Samples(co, so)
			}}
		if err := adviseRun(o); err != nil {
			t.Fatal(err)
		}
		if !flags.All {
			var r Report
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			return []*Report{&r}
		}
		var m multiReport
		if err := json.Unmarshal(out.Bytes(), &m); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return m.Namespaces
	}
	enqueued := func(r *Report, port uint16) uint64 {
		for _, l := range r.Trace.Listeners {
			if l.Port == port {
				return l.Enqueued
			}
		}
		return 0
	}
	reports := run(nsflag.Flags{All: true})
	var window *model.AdviseTrace
	for _, tg := range targets {
		ns, err := netns.Resolve(tg.path, "")
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(reports, func(r *Report) bool { return r.Netns != nil && r.Netns.Inode == ns.Inode })
		if i < 0 || reports[i].Trace == nil {
			t.Fatalf("no traced report for %s", tg.path)
		}
		r := reports[i]
		if n := enqueued(r, tg.port); n != 3 {
			t.Errorf("%s: listener on %d enqueued %d, want the 3 connections made when tracing began", tg.path, tg.port, n)
		}
		if window == nil {
			window = r.Trace
		} else if !r.Trace.Since.Equal(window.Since) || !r.Trace.Until.Equal(window.Until) {
			t.Errorf("%s traced %v to %v, another namespace %v to %v: want one window", tg.path, r.Trace.Since, r.Trace.Until, window.Since, window.Until)
		}
	}
	r := run(nsflag.Flags{Netns: targets[0].path})[0]
	if n := enqueued(r, targets[0].port); n != 3 {
		t.Errorf("--netns %s --trace: enqueued %d, want 3 (the namespace itself traced)", targets[0].path, n)
	}
}
