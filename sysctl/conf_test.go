package sysctl

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseConf(t *testing.T) {
	in := `# a comment
; another comment
net.core.somaxconn = 1024

# why syncookies
-net.ipv4.tcp_syncookies=1
net/ipv4/conf/eth0.100/rp_filter = 2
kernel.domainname = example.com  
this line has no equals sign
net.ipv4.conf.*.rp_filter = 0
`
	got, err := ParseConf(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Assignment{
		{Key: "net.core.somaxconn", Value: "1024", Line: 3, Comment: "another comment"},
		{Key: "net.ipv4.tcp_syncookies", Value: "1", Line: 6, Comment: "why syncookies"},
		{Key: "net.ipv4.conf.eth0/100.rp_filter", Value: "2", Line: 7},
		{Key: "kernel.domainname", Value: "example.com", Line: 8},
		{Key: "net.ipv4.conf.*.rp_filter", Value: "0", Line: 10},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseConf (-want +got):\n%s", diff)
	}
}

func TestConfKeyMatches(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"net.core.somaxconn", "net.core.somaxconn", true},
		{"net.core.*", "net.core.somaxconn", true},
		{"net.*.somaxconn", "net.core.somaxconn", true},
		{"net.*", "net.core.somaxconn", false},
		{"net.core.somaxconn", "net.core.netdev_max_backlog", false},
		{"net.core.somaxcon?", "net.core.somaxconn", true},
	}
	for _, tt := range tests {
		if got := ConfKeyMatches(tt.pattern, tt.name); got != tt.want {
			t.Errorf("ConfKeyMatches(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

// confFixture builds a fake boot-time search order under a temp dir.
func confFixture(t *testing.T, files map[string]string) (ConfSearch, string) {
	t.Helper()
	root := fixtureTree(t, files)
	s := ConfSearch{Conf: filepath.Join(root, "etc/sysctl.conf")}
	for _, d := range []string{"etc/sysctl.d", "run/sysctl.d", "usr/local/lib/sysctl.d", "usr/lib/sysctl.d", "lib/sysctl.d"} {
		s.Dirs = append(s.Dirs, filepath.Join(root, d))
	}
	if err := os.MkdirAll(filepath.Join(root, "etc/sysctl.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	return s, root
}

func TestLoadOrder(t *testing.T) {
	s, root := confFixture(t, map[string]string{
		"usr/lib/sysctl.d/10-base.conf":  "",
		"usr/lib/sysctl.d/50-pid.conf":   "",
		"etc/sysctl.d/50-pid.conf":       "", // same name: /etc wins
		"run/sysctl.d/30-run.conf":       "",
		"lib/sysctl.d/99-late.conf":      "",
		"etc/sysctl.d/README":            "", // not *.conf
		"usr/local/lib/sysctl.d/05.conf": "",
		"etc/sysctl.conf":                "",
	})
	got, err := s.LoadOrder(filepath.Join(root, "etc/sysctl.d/90-backlogctl.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i] = strings.TrimPrefix(got[i], root+"/")
	}
	want := []string{
		"usr/local/lib/sysctl.d/05.conf",
		"usr/lib/sysctl.d/10-base.conf",
		"run/sysctl.d/30-run.conf",
		"etc/sysctl.d/50-pid.conf",
		"etc/sysctl.d/90-backlogctl.conf",
		"lib/sysctl.d/99-late.conf",
		"etc/sysctl.conf",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("load order (-want +got):\n%s", diff)
	}
}

func TestPersistCheck(t *testing.T) {
	keys := []string{"net.core.somaxconn", "net.ipv4.tcp_syncookies"}
	tests := []struct {
		name   string
		files  map[string]string
		link   bool // etc/sysctl.d/99-sysctl.conf -> ../sysctl.conf, as on Debian
		dev    bool // with link: etc/sysctl.conf -> /dev/zero
		target string
		want   PersistCheck
	}{
		{
			name:   "nothing else sets the keys",
			files:  map[string]string{"usr/lib/sysctl.d/50-default.conf": "kernel.pid_max = 4194304\n"},
			target: "etc/sysctl.d/90-backlogctl.conf",
		},
		{
			name:   "earlier file is overridden by ours",
			files:  map[string]string{"usr/lib/sysctl.d/10-x.conf": "net.core.somaxconn = 128\n"},
			target: "etc/sysctl.d/90-backlogctl.conf",
		},
		{
			name:   "later file in a lower-priority dir wins",
			files:  map[string]string{"usr/lib/sysctl.d/95-vendor.conf": "# vendor\nnet.core.somaxconn = 128\n"},
			target: "etc/sysctl.d/90-backlogctl.conf",
			want:   PersistCheck{Overrides: []Override{{Key: "net.core.somaxconn", File: "usr/lib/sysctl.d/95-vendor.conf", Line: 2, Value: "128"}}},
		},
		{
			name: "shadowed later file does not count",
			files: map[string]string{
				"usr/lib/sysctl.d/95-vendor.conf": "net.core.somaxconn = 128\n",
				"etc/sysctl.d/95-vendor.conf":     "# emptied by the admin\n",
			},
			target: "etc/sysctl.d/90-backlogctl.conf",
		},
		{
			name:   "glob and slash forms match",
			files:  map[string]string{"run/sysctl.d/99-z.conf": "net/ipv4/tcp_syncookies = 0\nnet.core.* = 1\n"},
			target: "etc/sysctl.d/90-backlogctl.conf",
			want: PersistCheck{Overrides: []Override{
				{Key: "net.ipv4.tcp_syncookies", File: "run/sysctl.d/99-z.conf", Line: 1, Value: "0"},
				{Key: "net.core.somaxconn", File: "run/sysctl.d/99-z.conf", Line: 2, Value: "1"},
			}},
		},
		{
			name:   "sysctl.conf is read last, once even through the 99-sysctl.conf link",
			files:  map[string]string{"etc/sysctl.conf": "net.ipv4.tcp_syncookies = 2\n"},
			link:   true,
			target: "etc/sysctl.d/90-backlogctl.conf",
			want:   PersistCheck{Overrides: []Override{{Key: "net.ipv4.tcp_syncookies", File: "etc/sysctl.d/99-sysctl.conf", Line: 1, Value: "2"}}},
		},
		{
			name:   "same name in an earlier dir masks ours",
			files:  map[string]string{"etc/sysctl.d/90-backlogctl.conf": "# the admin's\n"},
			target: "usr/lib/sysctl.d/90-backlogctl.conf",
			want:   PersistCheck{MaskedBy: "etc/sysctl.d/90-backlogctl.conf"},
		},
		{
			name:   "a link to /dev/zero is read as nothing, at once",
			link:   true,
			dev:    true,
			target: "etc/sysctl.d/90-backlogctl.conf",
		},
		{
			name:   "outside the search dirs",
			target: "opt/90-backlogctl.conf",
			want:   PersistCheck{OutsideSearch: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, root := confFixture(t, tt.files)
			if tt.link {
				mustSymlink(t, "../sysctl.conf", filepath.Join(root, "etc/sysctl.d/99-sysctl.conf"))
			}
			if tt.dev {
				mustSymlink(t, "/dev/zero", filepath.Join(root, "etc/sysctl.conf"))
			}
			got, err := s.Check(filepath.Join(root, tt.target), keys)
			if err != nil {
				t.Fatal(err)
			}
			got.MaskedBy = strings.TrimPrefix(got.MaskedBy, root+"/")
			for i := range got.Overrides {
				got.Overrides[i].File = strings.TrimPrefix(got.Overrides[i].File, root+"/")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Check (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPersistFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "90-backlogctl.conf")
	old, raw, err := ReadPersist(file)
	if err != nil || old != nil || raw != nil {
		t.Fatalf("ReadPersist(absent) = %v, %q, %v", old, raw, err)
	}
	first := []PersistEntry{{Key: "net.core.somaxconn", Value: "8192", Reason: "--set net.core.somaxconn=8192"}}
	if err := WriteFileAtomic(file, RenderPersist(first)); err != nil {
		t.Fatal(err)
	}
	old, _, err = ReadPersist(file)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, old); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	merged := MergePersist(old, []PersistEntry{
		{Key: "net.ipv4.tcp_syncookies", Value: "1", Reason: "profile default\nsets it"},
		{Key: "net.core.somaxconn", Value: "16384", Reason: "raised again"},
	})
	got := string(RenderPersist(merged))
	want := persistHeader + `
# Read at boot by systemd-sysctl and ` + "`sysctl --system`" + `. Change it with
# ` + "`backlogctl tune --persist`; `backlogctl tune --rollback`" + ` undoes the last change.

# raised again
net.core.somaxconn = 16384

# profile default sets it
net.ipv4.tcp_syncookies = 1
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rendered file (-want +got):\n%s", diff)
	}

	foreign := filepath.Join(dir, "99-admin.conf")
	if err := os.WriteFile(foreign, []byte("net.core.somaxconn = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadPersist(foreign); !errors.Is(err, ErrNotOurs) {
		t.Errorf("ReadPersist(someone else's file) = %v, want ErrNotOurs", err)
	}
}
