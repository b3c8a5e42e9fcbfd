package rlimit

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/model"
)

func intp(v int) *int           { return &v }
func floatp(v float64) *float64 { return &v }

func TestReadProcessFixtures(t *testing.T) {
	tests := []struct {
		pid  int
		want model.ProcessLimits
	}{
		{100, model.ProcessLimits{PID: 100, Comm: "nginx", Unit: "nginx.service", Ports: []uint16{},
			Nofile: model.Nofile{Soft: 1024, Hard: 524288}, OpenFDs: intp(4), Usage: floatp(4.0 / 1024), Status: model.StatusOK,
			SocketInodes: []uint32{4001, 4002}}},
		// cgroup v1: systemd's own hierarchy decides, not the cpu or memory controllers.
		{200, model.ProcessLimits{PID: 200, Comm: "haproxy", Unit: "haproxy.service", Ports: []uint16{},
			Nofile: model.Nofile{Soft: 65536, Hard: 65536}, OpenFDs: intp(1), Usage: floatp(1.0 / 65536), Status: model.StatusOK,
			SocketInodes: []uint32{5001}}},
		// No fd directory: descriptors unknown, not zero.
		{300, model.ProcessLimits{PID: 300, Comm: "containerd-shim", Ports: []uint16{},
			Nofile: model.Nofile{Soft: model.Unlimited, Hard: model.Unlimited}, Status: model.StatusUnknown}},
		{400, model.ProcessLimits{PID: 400, Comm: "bash", Ports: []uint16{}, Nofile: model.Nofile{Soft: 1024, Hard: 4096}, Status: model.StatusUnknown}},
	}
	for _, tt := range tests {
		got, err := ReadProcess(hostfs.Roots{Proc: "testdata/proc"}, tt.pid)
		if err != nil {
			t.Errorf("ReadProcess(%d): %v", tt.pid, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ReadProcess(%d) (-want +got):\n%s", tt.pid, diff)
		}
	}
}

func TestReadProcessErrors(t *testing.T) {
	_, err := ReadProcess(hostfs.Roots{Proc: "testdata/proc"}, 999)
	var np *NoProcessError
	if !errors.As(err, &np) || err.Error() != "no process with pid 999" {
		t.Errorf("missing pid: err = %v, want NoProcessError \"no process with pid 999\"", err)
	}
	if _, err := ReadProcess(hostfs.Roots{Proc: "testdata/proc"}, 500); !errors.Is(err, ErrNoNofileLine) {
		t.Errorf("limits without Max open files: err = %v, want ErrNoNofileLine", err)
	}
}

func TestUsageStatus(t *testing.T) {
	for _, tt := range []struct {
		open int
		soft uint64
		want string
	}{
		{10, 1024, model.StatusOK}, {1013, 1024, model.StatusOK}, {1014, 1024, model.StatusNear}, {1023, 1024, model.StatusNear},
		{1024, 1024, model.StatusAtLimit}, {65, 64, model.StatusAtLimit}, {62, 64, model.StatusNear}, {61, 64, model.StatusOK},
		{5, model.Unlimited, model.StatusOK}, {-1, 1024, model.StatusUnknown},
	} {
		if got := model.UsageStatus(tt.open, tt.soft); got != tt.want {
			t.Errorf("UsageStatus(%d, %d) = %s, want %s", tt.open, tt.soft, got, tt.want)
		}
	}
}
