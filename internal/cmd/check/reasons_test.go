package check

import (
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/check"
	"github.com/backlogctl/backlogctl/model"
)

func TestAdviseReasons(t *testing.T) {
	snap := &model.Snapshot{
		Sysctls:  map[string]int64{"net.ipv4.tcp_syncookies": 0, "net.core.somaxconn": 4096},
		Counters: map[string]uint64{},
	}
	obs := &model.Observation{Snapshot: snap}
	matches := advise.FindingsFor(advise.Advise(advise.Input{Now: model.Sample{Snapshot: snap}}), "net.ipv4.tcp_syncookies")
	if len(matches) == 0 {
		t.Fatal("advise has no finding for tcp_syncookies=0; the test premise is broken")
	}
	failed := check.Result{Target: "net.ipv4.tcp_syncookies"}
	if got := adviseReasons(obs).Reason(failed, obs); got != matches[0].Reason {
		t.Errorf("reason = %q, want advise's %q", got, matches[0].Reason)
	}
	// Over a window, advise's since-boot view does not apply.
	obs.Window = &model.WindowInfo{Duration: time.Second}
	if got, want := adviseReasons(obs).Reason(failed, obs), (check.KernelReasons{}).Reason(failed, obs); got != want {
		t.Errorf("windowed reason = %q, want the kernel fact %q", got, want)
	}
}
