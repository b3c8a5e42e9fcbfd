package hostfs

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	dockerID   = "4f1e2a3b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607"
	podCtrID   = "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9"
	testPodUID = "1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7081"
	// testPodUIDU is the UID as systemd's driver writes it in a slice name.
	testPodUIDU = "1b2c3d4e_5f60_4718_9a2b_3c4d5e6f7081"
)

// TestCgroupFixtures reads testdata/proc/PID/cgroup through Roots: a systemd
// service (and a process in one of its subgroups), a docker container under
// systemd's and cgroupfs's drivers, a kubelet pod under both (containerd,
// CRI-O, cri-dockerd), on cgroup v1 and v2, and a cgroup v1 host where
// systemd's own hierarchy wins over the controllers'.
func TestCgroupFixtures(t *testing.T) {
	roots := Roots{Proc: "testdata/proc"}
	tests := []struct {
		pid  int
		want Cgroup
	}{
		{100, Cgroup{Path: "/system.slice/nginx.service", Unit: "nginx.service"}},
		{101, Cgroup{Path: "/system.slice/nginx.service/worker", Unit: "nginx.service"}},
		{200, Cgroup{Path: "/system.slice/docker-" + dockerID + ".scope", ContainerID: dockerID, Runtime: "docker"}},
		{201, Cgroup{Path: "/docker/" + dockerID, ContainerID: dockerID}},
		{300, Cgroup{Path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_5f60_4718_9a2b_3c4d5e6f7081.slice/cri-containerd-" + podCtrID + ".scope", ContainerID: podCtrID, Runtime: "cri-containerd", PodUID: testPodUID}},
		{301, Cgroup{Path: "/kubepods/besteffort/pod" + testPodUID + "/" + podCtrID, ContainerID: podCtrID, PodUID: testPodUID}},
		{400, Cgroup{Path: "/system.slice/haproxy.service", Unit: "haproxy.service"}},
		// cgroup v1: docker's cgroupfs driver, every hierarchy alike.
		{202, Cgroup{Path: "/docker/" + dockerID, ContainerID: dockerID}},
		// cgroup v1, kubelet's cgroupfs driver (containerd or cri-dockerd).
		{302, Cgroup{Path: "/kubepods/burstable/pod" + testPodUID + "/" + podCtrID, ContainerID: podCtrID, PodUID: testPodUID}},
		// cgroup v1, CRI-O under systemd's driver.
		{303, Cgroup{Path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + testPodUIDU + ".slice/crio-" + podCtrID + ".scope",
			ContainerID: podCtrID, Runtime: "crio", PodUID: testPodUID}},
		// cgroup v1 with no systemd hierarchy (k3s on OpenRC): only the
		// controllers' paths show the pod.
		{304, Cgroup{ContainerID: podCtrID, PodUID: testPodUID}},
		// cgroup v2, CRI-O under the cgroupfs driver: "crio-ID", no scope.
		{305, Cgroup{Path: "/kubepods/besteffort/pod" + testPodUID + "/crio-" + podCtrID, ContainerID: podCtrID, Runtime: "crio", PodUID: testPodUID}},
		// cgroup v2 read from inside a pod's own cgroup namespace (the
		// DaemonSet's): the path climbs out of the reader's root.
		{306, Cgroup{Path: "/../../../kubepods-besteffort.slice/kubepods-besteffort-pod" + testPodUIDU + ".slice/cri-containerd-" + podCtrID + ".scope",
			ContainerID: podCtrID, Runtime: "cri-containerd", PodUID: testPodUID}},
		// cgroup v2, cri-dockerd (Docker Engine behind kubelet), systemd driver.
		{307, Cgroup{Path: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + testPodUIDU + ".slice/docker-" + podCtrID + ".scope",
			ContainerID: podCtrID, Runtime: "docker", PodUID: testPodUID}},
	}
	for _, tt := range tests {
		got, err := roots.Cgroup(tt.pid)
		if err != nil {
			t.Errorf("Cgroup(%d): %v", tt.pid, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Cgroup(%d) (-want +got):\n%s", tt.pid, diff)
		}
	}
	if _, err := roots.Cgroup(999); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Cgroup of a missing pid: %v, want not-exist", err)
	}
}

func TestParseCgroup(t *testing.T) {
	tests := []struct {
		name, path string
		want       Cgroup
	}{
		{"template instance", "/system.slice/system-getty.slice/getty@tty1.service", Cgroup{Unit: "getty@tty1.service"}},
		{"delegated subgroup", "/system.slice/docker.service/payload", Cgroup{Unit: "docker.service"}},
		{"user service", "/user.slice/user-1000.slice/user@1000.service/app.slice/web.service", Cgroup{Unit: "web.service"}},
		{"session scope", "/user.slice/user-1000.slice/session-3.scope", Cgroup{}},
		{"root", "/", Cgroup{}},
		{"only a suffix", "/system.slice/.service", Cgroup{}},
		{"short scope id", "/system.slice/docker-0123abcd.scope", Cgroup{}},
		{"podman", "/machine.slice/libpod-" + dockerID + ".scope/container", Cgroup{ContainerID: dockerID, Runtime: "libpod"}},
		{"cri-o", "/kubepods.slice/kubepods-pod" + "1b2c3d4e_5f60_4718_9a2b_3c4d5e6f7081" + ".slice/crio-" + podCtrID + ".scope", Cgroup{ContainerID: podCtrID, Runtime: "crio", PodUID: testPodUID}},
		{"not hex under docker", "/docker/not-a-container-id", Cgroup{}},
		{"not a uid", "/kubepods.slice/kubepods-podxyz.slice", Cgroup{}},
	}
	for _, tt := range tests {
		tt.want.Path = tt.path
		if diff := cmp.Diff(tt.want, ParseCgroup(tt.path)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}
