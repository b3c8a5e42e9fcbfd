package inspect

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
)

// ownedListener opens a listener on addr and hands it to a child `sleep`,
// which then is its only owner.
func ownedListener(t *testing.T, addr string) (port uint16, pid int) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "60")
	cmd.ExtraFiles = []*os.File{f}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	port = uint16(l.Addr().(*net.TCPAddr).Port)
	f.Close()
	l.Close()
	return port, cmd.Process.Pid
}

func ports(t *testing.T, args ...string) []uint16 {
	t.Helper()
	out, _, err := runInspect(t, append(args, "-o", "json")...)
	if err != nil {
		t.Fatalf("inspect %v: %v", args, err)
	}
	var snap model.Snapshot
	if err := json.Unmarshal([]byte(out), &snap); err != nil {
		t.Fatalf("inspect %v: %v\n%s", args, err, out)
	}
	var got []uint16
	for _, l := range snap.Listeners {
		got = append(got, l.Port)
	}
	slices.Sort(got)
	return got
}

// In a namespace of its own, with listeners held by a child sleep, by this
// test and on two addresses: --pid, --process and --address keep exactly
// the matching listeners, and different flags must all hold.
func TestFilterByOwnerAndAddress(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	sleepPort, sleepPID := ownedListener(t, "127.0.0.1:0")
	// a second address on lo: 127.0.0.2 needs no setup, the whole /8 is local
	ownPort, _ := ownedListener(t, "127.0.0.2:0")
	l6, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l6.Close()
	testPort := uint16(l6.Addr().(*net.TCPAddr).Port)
	nstest.Eventually(t, 5*time.Second, "the children to own their sockets", func() bool {
		return slices.Equal(ports(t, "--process", "sleep"), sorted(sleepPort, ownPort))
	})
	pid := strconv.Itoa(sleepPID)
	for _, tt := range []struct {
		args []string
		want []uint16
	}{
		{nil, sorted(sleepPort, ownPort, testPort)},
		{[]string{"--pid", pid}, sorted(sleepPort)},
		{[]string{"--pid", pid + "," + strconv.Itoa(os.Getpid())}, sorted(sleepPort, testPort)},
		{[]string{"--process", "sleep"}, sorted(sleepPort, ownPort)},
		{[]string{"--process", "nosuchname"}, nil},
		{[]string{"--address", "127.0.0.2"}, sorted(ownPort)},
		{[]string{"--address", "127.0.0.0/8"}, sorted(sleepPort, ownPort)},
		{[]string{"--address", "::1"}, sorted(testPort)},
		{[]string{"--address", "[::1]", "--address", "127.0.0.1"}, sorted(sleepPort, testPort)},
		{[]string{"--process", "sleep", "--address", "127.0.0.1"}, sorted(sleepPort)},
		{[]string{"--pid", pid, "--address", "127.0.0.2"}, nil},
		{[]string{"--process", "sleep", "--port", strconv.Itoa(int(ownPort))}, sorted(ownPort)},
	} {
		if got := ports(t, tt.args...); !slices.Equal(got, tt.want) {
			t.Errorf("inspect %v: ports %v, want %v", tt.args, got, tt.want)
		}
	}

	// no match is said in words, not drawn as an empty table
	out, _, err := runInspect(t, "--process", "nosuchname")
	if err != nil || !strings.Contains(out, "no listening sockets") {
		t.Errorf("table for no match: err %v\n%s", err, out)
	}
}

func sorted(ps ...uint16) []uint16 {
	slices.Sort(ps)
	return ps
}

func TestFilterBadValues(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--address", "localhost"}, `invalid --address "localhost": want an IP address`},
		{[]string{"--address", "10.0.0.0/33"}, `invalid --address "10.0.0.0/33"`},
		{[]string{"--pid", "0"}, "invalid --pid 0: want a process id, 1 or more"},
		{[]string{"--pid", "-3"}, "invalid --pid -3"},
		{[]string{"--process", " "}, `invalid --process " "`},
		{[]string{"--pid", "1", "--no-processes"}, "--pid and --process need the owning processes"},
		{[]string{"--process", "nginx", "--no-processes"}, "--pid and --process need the owning processes"},
	} {
		_, _, err := runInspect(t, tt.args...)
		if cmdutil.ExitCode(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("inspect %v: %v, want a usage error containing %q", tt.args, err, tt.want)
		}
	}
}
