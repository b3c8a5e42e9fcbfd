package inspect

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/netns"
	"github.com/backlogctl/backlogctl/netns/netnstest"
)

// runInspect runs `backlogctl inspect args...` and returns stdout, stderr.
func runInspect(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	ios, _, out, errOut := iostreams.Test()
	f := &cmdutil.Factory{IOStreams: ios, Roots: hostfs.Host()}
	cmd := NewCmdInspect(f, nil)
	cmd.SetArgs(args)
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

// prepare sets somaxconn inside the namespace at path and opens a listener
// there with listen(1000), so its effective backlog is somaxconn.
func prepare(t *testing.T, path string, somaxconn int) uint16 {
	t.Helper()
	return nstest.PrepareNetns(t, path, somaxconn, 1000)
}

func TestAllNetnsFindsEachNamespace(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	a, b := netnstest.Hold(t), netnstest.Hold(t)
	portA, portB := prepare(t, a, 111), prepare(t, b, 222)
	nsA, _ := netns.Resolve(a, "")
	nsB, _ := netns.Resolve(b, "")
	out, _, err := runInspect(t, "--all-netns", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var m model.MultiSnapshot
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("parsing --all-netns JSON: %v\n%s", err, out)
	}
	want := map[uint64]struct {
		somaxconn int64
		port      uint16
	}{nsA.Inode: {111, portA}, nsB.Inode: {222, portB}}
	found := 0
	for _, ns := range m.Namespaces {
		w, ok := want[ns.Netns.Inode]
		if !ok {
			continue
		}
		found++
		if got := ns.Sysctls["net.core.somaxconn"]; got != w.somaxconn {
			t.Errorf("netns %d: somaxconn %d, want %d", ns.Netns.Inode, got, w.somaxconn)
		}
		if len(ns.Listeners) != 1 || ns.Listeners[0].Port != w.port || ns.Listeners[0].AcceptQueueMax != uint32(w.somaxconn) {
			t.Errorf("netns %d: listeners %+v, want one on port %d with backlog %d", ns.Netns.Inode, ns.Listeners, w.port, w.somaxconn)
		}
		if ns.Counters["TcpExtListenOverflows"] != 0 || len(ns.Counters) == 0 {
			t.Errorf("netns %d: counters %v, want the namespace's own (fresh: no overflows)", ns.Netns.Inode, ns.Counters)
		}
	}
	if found != 2 {
		t.Errorf("--all-netns found %d of the 2 test namespaces in %d namespaces", found, len(m.Namespaces))
	}
}

func TestNetnsByNameAndPath(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	name := netnstest.Named(t)
	path := netns.DefaultRunDir + "/" + name
	port := prepare(t, path, 333)
	held := netnstest.Hold(t)
	heldPort := prepare(t, held, 444)
	for _, tt := range []struct {
		arg       string
		somaxconn int64
		port      uint16
		name      string
	}{
		{name, 333, port, name},
		{path, 333, port, name},
		{held, 444, heldPort, ""},
	} {
		out, _, err := runInspect(t, "--netns", tt.arg, "-o", "json")
		if err != nil {
			t.Fatalf("--netns %s: %v", tt.arg, err)
		}
		var ns model.NamespaceSnapshot
		if err := json.Unmarshal([]byte(out), &ns); err != nil {
			t.Fatalf("--netns %s: %v\n%s", tt.arg, err, out)
		}
		if ns.Sysctls["net.core.somaxconn"] != tt.somaxconn || ns.Netns.Name != tt.name {
			t.Errorf("--netns %s: somaxconn %d name %q, want %d %q", tt.arg, ns.Sysctls["net.core.somaxconn"], ns.Netns.Name, tt.somaxconn, tt.name)
		}
		if len(ns.Listeners) != 1 || ns.Listeners[0].Port != tt.port {
			t.Errorf("--netns %s: listeners %+v, want one on port %d", tt.arg, ns.Listeners, tt.port)
		}
		if len(ns.Listeners) == 1 && len(ns.Listeners[0].Processes) != 1 {
			t.Errorf("--netns %s: owners %+v, want this test process", tt.arg, ns.Listeners[0].Processes)
		}
	}
	out, _, err := runInspect(t, "--netns", name, "-o", "prom")
	if err != nil || !strings.Contains(out, fmt.Sprintf(`backlogctl_listener_backlog{address="127.0.0.1",container="",namespace="",netns="%s",path="",pod="",port="%d"`, name, port)) {
		t.Errorf("--netns %s -o prom: %v\n%s", name, err, out)
	}
}

func TestNetnsErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want int
		msg  string
	}{
		{[]string{"--netns", "no-such-backlogctl-namespace"}, cmdutil.ExitUsage, "no such network namespace"},
		{[]string{"--netns", "/etc/hostname"}, cmdutil.ExitUsage, "not a network namespace"},
		{[]string{"--netns", "/proc/self/ns/mnt"}, cmdutil.ExitUsage, "/proc/self/ns/mnt is a mount namespace, not a network namespace"},
		{[]string{"--netns", "/proc/self/ns/uts"}, cmdutil.ExitUsage, "is a uts namespace"},
		{[]string{"--netns", "x", "--all-netns"}, cmdutil.ExitUsage, "cannot be used together"},
	} {
		_, _, err := runInspect(t, tt.args...)
		if cmdutil.ExitCode(err) != tt.want || err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("inspect %v: %v (exit %d), want exit %d saying %q", tt.args, err, cmdutil.ExitCode(err), tt.want, tt.msg)
		}
	}
}
