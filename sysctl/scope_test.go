package sysctl

import (
	"errors"
	"testing"

	"github.com/backlogctl/backlogctl/sysctl/sysctltest"
)

func TestCheckNetnsScope(t *testing.T) {
	for _, tc := range []struct {
		key      string
		initNs   bool
		wantErr  bool
		wantScop Scope
	}{
		{"net.core.somaxconn", false, false, ScopeNetns},
		{"somaxconn", true, false, ScopeNetns},
		{"net.core.netdev_max_backlog", false, true, ScopeGlobal},
		{"fs.file-max", false, true, ScopeGlobal},
		{"fs/nr_open", false, true, ScopeGlobal},
		{"vm.swappiness", false, true, ScopeGlobal},
		{"kernel.core_pattern", false, true, ScopeGlobal},
		// Outside the registry: visible in a child namespace means its own.
		{"net.ipv4.tcp_fin_timeout", false, false, ScopeNetns},
		// In init's namespace a global net.* key is visible too.
		{"net.ipv4.tcp_fin_timeout", true, true, ScopeNetns},
	} {
		if got := ScopeOf(tc.key); got != tc.wantScop {
			t.Errorf("ScopeOf(%s) = %s, want %s", tc.key, got, tc.wantScop)
		}
		err := CheckNetnsScope(tc.key, tc.initNs)
		if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, ErrNotPerNetns)) {
			t.Errorf("CheckNetnsScope(%s, init=%v) = %v, want error %v", tc.key, tc.initNs, err, tc.wantErr)
		}
	}
}

// InitNetns tells init's namespace by a global key being visible, as it is
// only there.
func TestInitNetns(t *testing.T) {
	host := sysctltest.Tree(t, map[string]string{"net/core/somaxconn": "4096\n", "net/core/netdev_max_backlog": "1000\n"})
	child := sysctltest.Tree(t, map[string]string{"net/core/somaxconn": "4096\n"})
	if !NewFS(host).InitNetns() || NewFS(child).InitNetns() {
		t.Errorf("InitNetns: host tree %v, child tree %v; want true, false", NewFS(host).InitNetns(), NewFS(child).InitNetns())
	}
}
