package collect

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/sysctl"
)

func TestChildNetnsFromSysctls(t *testing.T) {
	for _, tt := range []struct {
		sysctls   map[string]int64
		child, ok bool
	}{
		{map[string]int64{"net.core.somaxconn": 4096, "net.core.netdev_max_backlog": 1000}, false, true},
		{map[string]int64{"net.core.somaxconn": 4096}, true, true},
	} {
		child, ok := childNetns(hostfs.Roots{Proc: t.TempDir()}, tt.sysctls)
		if child != tt.child || ok != tt.ok {
			t.Errorf("%v: child=%v ok=%v, want %v %v", tt.sysctls, child, ok, tt.child, tt.ok)
		}
	}
	if _, ok := childNetns(hostfs.Roots{Proc: t.TempDir()}, map[string]int64{}); ok {
		t.Error("nothing to tell by: ok, want not ok")
	}
}

func TestRecorded(t *testing.T) {
	dir := t.TempDir()
	if got, err := recordedChanges(dir, hostfs.Roots{Proc: t.TempDir()}, 0); err != nil || got != nil {
		t.Fatalf("no record: %v %v, want nothing", got, err)
	}
	at := time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC)
	st := sysctl.State{Time: at, Status: sysctl.StatusApplied, Steps: []sysctl.Step{
		{Key: "net.core.somaxconn", Previous: "128", Value: "4096"},
		{Key: "net.ipv4.tcp_syncookies", Previous: "1", Value: "1"},
	}}
	if err := sysctl.SaveState(dir, st); err != nil {
		t.Fatal(err)
	}
	got, err := recordedChanges(dir, hostfs.Roots{Proc: t.TempDir()}, 0)
	want := []model.SysctlChange{{Key: "net.core.somaxconn", From: 128, To: 4096, At: at}}
	if err != nil || !cmp.Equal(want, got) {
		t.Errorf("Recorded = %v, %v; want %v", got, err, want)
	}
	st.Status = sysctl.StatusRolledBack
	if err := sysctl.SaveState(dir, st); err != nil {
		t.Fatal(err)
	}
	if got, _ := recordedChanges(dir, hostfs.Roots{Proc: t.TempDir()}, 0); got != nil {
		t.Errorf("rolled back: %v, want nothing in force", got)
	}
}
