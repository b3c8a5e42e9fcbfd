package sysctl

import (
	"bytes"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzKeyPath: whatever KeyPath accepts stays below the root when joined.
func FuzzKeyPath(f *testing.F) {
	for _, s := range []string{"net.core.somaxconn", "net/core/somaxconn", "../etc/passwd", "/etc/passwd", "net..core", "a/./b", "fs.file-max", "x\x00y", "net.ipv4.conf.eth0/1.rp_filter"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		rel, err := KeyPath(name)
		if err != nil {
			return
		}
		joined := filepath.Join("/proc/sys", rel)
		if !strings.HasPrefix(joined, "/proc/sys/") {
			t.Fatalf("KeyPath(%q) = %q escapes the root (%s)", name, rel, joined)
		}
		if filepath.Clean(joined) != joined {
			t.Fatalf("KeyPath(%q) = %q is not clean", name, rel)
		}
	})
}

// FuzzParseAssignment: whatever KEY=VALUE is accepted names a registry key and
// a value inside that key's kernel range, so no write can fail with EINVAL
// for a reason validation could have seen.
func FuzzParseAssignment(f *testing.F) {
	for _, s := range []string{"somaxconn=4096", "net.ipv4.tcp_syncookies=2", "tcp_syncookies=256", "fs.nr_open=63", "somaxconn= 12 ", "somaxconn=0x10", "=1", "somaxconn", "fs.file-max=9223372036854775807", "../x=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		k, v, err := ParseAssignment(arg, false)
		if err != nil {
			return
		}
		if _, ok := Lookup(k.Name); !ok {
			t.Fatalf("ParseAssignment(%q) accepted key %q outside the registry", arg, k.Name)
		}
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil || n < k.Min || n > k.Max || strconv.FormatInt(n, 10) != v {
			t.Fatalf("ParseAssignment(%q) = %s=%q, outside %d..%d or not canonical", arg, k.Name, v, k.Min, k.Max)
		}
	})
}

// FuzzPersistRoundTrip: a sysctl.d file backlogctl renders reads back as
// exactly the settings it was given, whatever the reasons say (a reason with
// a newline must not smuggle in a setting of its own).
func FuzzPersistRoundTrip(f *testing.F) {
	f.Add(0, "4096", "raise it")
	f.Add(2, "1", "line one\nnet.core.somaxconn = 1")
	f.Add(5, "2000", "# ; = \r\n-fs.file-max=1")
	f.Fuzz(func(t *testing.T, idx int, value, reason string) {
		if idx < 0 {
			idx = -idx
		}
		k := Registry[idx%len(Registry)]
		v, err := ParseValue(k, value)
		if err != nil {
			return
		}
		entries := []PersistEntry{{Key: k.Name, Value: v, Reason: reason}}
		got, err := ParseConf(bytes.NewReader(RenderPersist(entries)))
		if err != nil {
			t.Fatalf("rendered file does not parse: %v", err)
		}
		if len(got) != 1 || got[0].Key != k.Name || got[0].Value != v {
			t.Fatalf("round trip of %s=%s (reason %q) read back %+v", k.Name, v, reason, got)
		}
	})
}

// FuzzParseConf: arbitrary sysctl.d text never panics, and every assignment
// it returns has a key without surrounding blanks and a positive line number.
func FuzzParseConf(f *testing.F) {
	for _, s := range []string{"net.core.somaxconn = 4096\n", "-net/ipv4/conf/eth0.100/rp_filter=1\n", "# c\n; d\nx=\n", "=\n", "a=b=c\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		as, err := ParseConf(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, a := range as {
			if a.Line <= 0 || a.Key != strings.TrimSpace(a.Key) {
				t.Fatalf("ParseConf(%q) gave %+v", s, a)
			}
		}
	})
}
