package advise

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/sysctl"
)

func TestPlanFindings(t *testing.T) {
	somax := func(id string, sev Severity, cur, rec int64) Finding {
		return Finding{ID: id, Severity: sev, Subject: "x", Key: "net.core.somaxconn", Current: p64(cur), Recommended: p64(rec)}
	}
	tests := []struct {
		name     string
		findings []Finding
		want     Plan
	}{
		{
			name:     "info findings never change the host",
			findings: []Finding{somax("somaxconn-clamps-listener", Info, 8, 4096)},
			want:     Plan{},
		},
		{
			name: "the highest target for a key wins",
			findings: []Finding{
				somax("somaxconn-clamps-listener", Warning, 128, 4096),
				somax("somaxconn-below-sizing", Warning, 128, 16384),
				somax("somaxconn-clamps-listener", Critical, 128, 4096),
			},
			want: Plan{Changes: []Change{{Key: "net.core.somaxconn", Current: p64(128), Target: 16384, Scope: sysctl.ScopeNetns,
				Reason: "advise: somaxconn-clamps-listener, somaxconn-below-sizing"}}},
		},
		{
			name:     "a size is never lowered",
			findings: []Finding{somax("below-profile", Warning, 65535, 4096)},
			want:     Plan{},
		},
		{
			name: "mode keys may go down; findings without a key or value are skipped",
			findings: []Finding{
				{ID: "abort-on-overflow-on", Severity: Warning, Key: "net.ipv4.tcp_abort_on_overflow", Current: p64(1), Recommended: p64(0)},
				{ID: "syncookies-always", Severity: Warning, Key: "net.ipv4.tcp_syncookies", Current: p64(2), Recommended: p64(1)},
				{ID: "listener-backlog-too-small", Severity: Warning, Subject: "127.0.0.1:80", Current: p64(4), Recommended: p64(4096)},
				{ID: "netdev-backlog-drops", Severity: Warning, Key: "net.core.netdev_max_backlog"},
			},
			want: Plan{Changes: []Change{
				{Key: "net.ipv4.tcp_abort_on_overflow", Current: p64(1), Target: 0, Scope: sysctl.ScopeNetns, Reason: "advise: abort-on-overflow-on"},
				{Key: "net.ipv4.tcp_syncookies", Current: p64(2), Target: 1, Scope: sysctl.ScopeNetns, Reason: "advise: syncookies-always"},
			}},
		},
		{
			name:     "global keys keep their scope",
			findings: []Finding{{ID: "file-nr-near-file-max", Severity: Critical, Key: "fs.file-max", Current: p64(1000), Recommended: p64(2048)}},
			want:     Plan{Changes: []Change{{Key: "fs.file-max", Current: p64(1000), Target: 2048, Scope: sysctl.ScopeGlobal, Reason: "advise: file-nr-near-file-max"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, PlanFindings(tt.findings)); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFindingsFor(t *testing.T) {
	in := once(with(setSysctl("net.core.somaxconn", 128), setSysctl("net.ipv4.tcp_syncookies", 0),
		listening(lst(80, 129, 128, nil), lst(81, 129, 128, nil, proc(7, "nginx", 1024, 1024, 4096)))))
	fs := Advise(in)
	ids := func(fs []Finding) []string {
		out := []string{}
		for _, f := range fs {
			out = append(out, f.ID+" "+f.Subject)
		}
		return out
	}
	tests := []struct {
		subject string
		want    []string
	}{
		{"127.0.0.1:80", []string{"somaxconn-clamps-listener 127.0.0.1:80"}},
		{"somaxconn", []string{"somaxconn-clamps-listener 127.0.0.1:80"}},
		{"127.0.0.1:81", []string{"accept-queue-full-at-nofile pid:7"}},
		{PIDSubject(7), []string{"accept-queue-full-at-nofile pid:7"}},
		{"net/ipv4/tcp_syncookies", []string{"syncookies-off net.ipv4.tcp_syncookies"}},
		{"127.0.0.1:99", []string{}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, ids(FindingsFor(fs, tt.subject))); diff != "" {
			t.Errorf("FindingsFor(%q) (-want +got):\n%s", tt.subject, diff)
		}
	}
	if _, ok := FindingByID(fs, "syncookies-off", "syncookies"); !ok {
		t.Error("FindingByID(syncookies-off, syncookies) not found")
	}
	if _, ok := FindingByID(fs, "syncookies-off", "127.0.0.1:80"); ok {
		t.Error("FindingByID(syncookies-off, 127.0.0.1:80) found a finding about another subject")
	}
	if got := ListenerSubject("::", 443); got != "[::]:443" {
		t.Errorf("ListenerSubject(::, 443) = %q", got)
	}
}

func TestSortMostSevereFirst(t *testing.T) {
	fs := []Finding{{ID: "b", Severity: Info}, {ID: "a", Severity: Warning}, {ID: "c", Severity: Critical}, {ID: "a", Severity: Info}}
	Sort(fs)
	got := []string{}
	for _, f := range fs {
		got = append(got, string(f.Severity)+" "+f.ID)
	}
	want := []string{"critical c", "warning a", "info a", "info b"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if Worst(nil) != "" || Worst(fs) != Critical {
		t.Errorf("Worst = %q / %q", Worst(nil), Worst(fs))
	}
}

func TestFileNrFindings(t *testing.T) {
	files := func(alloc, max int64) func(*model.Snapshot) {
		return func(s *model.Snapshot) { s.Files.Allocated, s.Files.Max = alloc, max }
	}
	runRuleCases(t, []string{"file-nr-near-file-max"}, []ruleCase{
		{"plenty left", once(with(files(1000, 100000))), []summary{}},
		{"three quarters used: warning", once(with(files(80000, 100000))),
			[]summary{{"file-nr-near-file-max", Warning, "fs.file-max", "fs.file-max", p64(100000), p64(200000)}}},
		{"nearly all used: critical", once(with(files(99000, 100000))),
			[]summary{{"file-nr-near-file-max", Critical, "fs.file-max", "fs.file-max", p64(100000), p64(200000)}}},
	})
}
