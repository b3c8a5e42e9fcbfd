package rlimit

import (
	"strings"
	"testing"
)

func TestParseUnit(t *testing.T) {
	tests := []struct {
		name, cgroup, want string
	}{
		{"v2 service", "0::/system.slice/nginx.service\n", "nginx.service"},
		{"v2 template instance", "0::/system.slice/system-getty.slice/getty@tty1.service\n", "getty@tty1.service"},
		{"v2 scope", "0::/system.slice/docker-0123.scope\n", ""},
		{"v2 root", "0::/\n", ""},
		{"v2 delegated subgroup", "0::/system.slice/app.service/payload\n", ""},
		{"v2 user session", "0::/user.slice/user-1000.slice/session-3.scope\n", ""},
		{"v1 name=systemd wins over controllers", "4:memory:/system.slice/other.service\n1:name=systemd:/system.slice/haproxy.service\n0::/\n", "haproxy.service"},
		{"v1 without systemd hierarchy ignores controllers", "4:memory:/system.slice/other.service\n", ""},
		{"hybrid uses the systemd hierarchy", "1:name=systemd:/system.slice/redis.service\n0::/system.slice/redis.service\n", "redis.service"},
		{"only a suffix", "0::/system.slice/.service\n", ""},
		{"empty file", "", ""},
		{"garbage lines skipped", "nonsense\n0::/system.slice/a.service\n", "a.service"},
	}
	for _, tt := range tests {
		got, err := ParseUnit(strings.NewReader(tt.cgroup))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s: ParseUnit = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestReadUnitFixtures(t *testing.T) {
	for pid, want := range map[int]string{100: "nginx.service", 200: "haproxy.service", 300: "", 400: ""} {
		got, err := ReadUnit("testdata/proc", pid)
		if err != nil || got != want {
			t.Errorf("ReadUnit(%d) = %q, %v; want %q", pid, got, err, want)
		}
	}
}
