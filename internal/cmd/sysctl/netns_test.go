package sysctl

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/netns"
	"github.com/backlogctl/backlogctl/netns/netnstest"
	"github.com/backlogctl/backlogctl/sysctl"
)

// get reads per namespace with --netns and --all-netns; set writes inside
// the --netns namespace only, refuses a global key there, and refuses
// --all-netns, changing nothing.
func TestSysctlInNamespaces(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	a, b := netnstest.Hold(t), netnstest.Hold(t)
	nstest.PrepareNetns(t, a, 111, 0)
	nstest.PrepareNetns(t, b, 222, 0)
	nstest.SetSysctl(t, "net.core.somaxconn", 4096)
	state := t.TempDir()
	cli := func(args ...string) nstest.Result {
		return nstest.RunCLI(t, nstest.CLI{Args: append([]string{"sysctl"}, args...)})
	}

	if res := cli("get", "-n", "--netns", a, "somaxconn"); res.Code != 0 || res.Stdout != "111\n" {
		t.Errorf("get --netns a: exit %d, %q %q; want 111", res.Code, res.Stdout, res.Stderr)
	}
	res := cli("get", "--all-netns", "somaxconn", "-o", "json")
	var all struct {
		Namespaces []struct {
			Netns  model.Namespace `json:"netns"`
			Values []Value         `json:"values"`
		} `json:"namespaces"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &all); err != nil {
		t.Fatalf("get --all-netns: %v\n%s%s", err, res.Stdout, res.Stderr)
	}
	got := map[uint64]string{}
	for _, ns := range all.Namespaces {
		if len(ns.Values) == 1 {
			got[ns.Netns.Inode] = ns.Values[0].Value
		}
	}
	for path, want := range map[string]string{a: "111", b: "222"} {
		ns, err := netns.Resolve(path, "")
		if err != nil {
			t.Fatal(err)
		}
		if got[ns.Inode] != want {
			t.Errorf("get --all-netns: %s has %q, want %s (%s)", ns.Label(), got[ns.Inode], want, res.Stdout)
		}
	}

	if res := cli("set", "--netns", a, "--state-dir", state, "somaxconn=333"); res.Code != 0 {
		t.Errorf("set --netns a: exit %d, %s", res.Code, res.Stderr)
	}
	if v := nstest.SysctlIn(t, a, "net.core.somaxconn"); v != "333" {
		t.Errorf("somaxconn in a = %s after set --netns a, want 333", v)
	}
	if v := nstest.SysctlIn(t, b, "net.core.somaxconn"); v != "222" {
		t.Errorf("somaxconn in b = %s, want 222 untouched", v)
	}
	if v, _ := sysctl.NewFS("").ReadString("net.core.somaxconn"); v != "4096" {
		t.Errorf("somaxconn here = %s, want 4096 untouched", v)
	}

	// The record of that set names a's namespace: a rollback there restores it.
	if res := nstest.RunCLI(t, nstest.CLI{Args: []string{"tune", "--netns", a, "--rollback", "--yes", "--state-dir", state}}); res.Code != 0 || nstest.SysctlIn(t, a, "net.core.somaxconn") != "111" {
		t.Errorf("tune --netns a --rollback: exit %d, somaxconn in a %s; want 0 and 111\n%s", res.Code, nstest.SysctlIn(t, a, "net.core.somaxconn"), res.Stderr)
	}
	if res := cli("set", "--netns", a, "--state-dir", state, "somaxconn=333"); res.Code != 0 {
		t.Errorf("set --netns a again: exit %d, %s", res.Code, res.Stderr)
	}

	if res := cli("set", "--all-netns", "--state-dir", state, "somaxconn=1"); res.Code != 2 || !strings.Contains(res.Stderr, "--all-netns is refused") {
		t.Errorf("set --all-netns: exit %d, %q; want 2 with the refusal", res.Code, res.Stderr)
	}
	var global string
	for _, k := range sysctl.Registry {
		if k.Scope == sysctl.ScopeGlobal && !k.ReadOnly {
			global = k.Name
			break
		}
	}
	if res := cli("set", "--netns", a, "--state-dir", state, global+"=1000"); res.Code != 2 || !strings.Contains(res.Stderr, "is global") {
		t.Errorf("set --netns a %s: exit %d, %q; want 2, global", global, res.Code, res.Stderr)
	}
	for path, want := range map[string]string{a: "333", b: "222"} {
		if v := nstest.SysctlIn(t, path, "net.core.somaxconn"); v != want {
			t.Errorf("somaxconn in %s = %s after refused sets, want %s", path, v, want)
		}
	}
}
