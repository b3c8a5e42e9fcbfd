package hostfs

import (
	"os"
	"path/filepath"
	"testing"
)

// CgroupHint finds the container or pod in any hierarchy of
// /proc/PID/cgroup, read from a fixture tree.
func TestCgroupHint(t *testing.T) {
	tests := []struct {
		name, cgroup, want string
	}{
		{"host service", "0::/system.slice/nginx.service\n", ""},
		{"docker v2", "0::/system.slice/docker-3f2a9c0d1e2f3a4b5c6d7e8f.scope\n", "docker:3f2a9c0d1e2f"},
		{"docker v1", "12:pids:/docker/3f2a9c0d1e2f3a4b5c6d7e8f9a0b\n1:name=systemd:/docker/3f2a9c0d1e2f3a4b\n", "docker:3f2a9c0d1e2f"},
		{"kubernetes systemd driver",
			"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1c5e7a2b_4d3c_11ee_8c90_0242ac120002.slice/cri-containerd-abcdef0123456789.scope\n",
			"pod:1c5e7a2b-4d3c-11ee-8c90-0242ac120002"},
		{"kubernetes cgroupfs driver", "0::/kubepods/besteffort/pod1c5e7a2b-4d3c-11ee-8c90-0242ac120002/abcdef\n",
			"pod:1c5e7a2b-4d3c-11ee-8c90-0242ac120002"},
		{"podman", "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-0123456789abcdef.scope\n", "libpod:0123456789ab"},
		{"garbage", "not a cgroup file", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proc := t.TempDir()
			if err := os.MkdirAll(filepath.Join(proc, "42"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(proc, "42", "cgroup"), []byte(tt.cgroup), 0o644); err != nil {
				t.Fatal(err)
			}
			// A file that is not a cgroup file is an error, and no hint.
			got, _ := Roots{Proc: proc}.CgroupHint(42)
			if got != tt.want {
				t.Errorf("CgroupHint() = %q, want %q", got, tt.want)
			}
		})
	}
}
