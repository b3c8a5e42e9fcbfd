package hostfs

import (
	"path"
	"strings"

	"github.com/prometheus/procfs"
)

// Cgroup is where a process sits in the cgroup tree, and what that says
// about who runs it.
type Cgroup struct {
	// Path is the cgroup path: systemd's v1 hierarchy ("name=systemd") when
	// there is one, else the unified v2 hierarchy.
	Path string `json:"path"`
	// Unit is the innermost systemd service ("nginx.service") the process
	// runs in, "" when none: where LimitNOFILE= belongs.
	Unit string `json:"unit,omitempty"`
	// ContainerID is the container's full ID when the path shows a
	// docker, containerd, cri-o or podman container.
	ContainerID string `json:"container_id,omitempty"`
	// PodUID is the Kubernetes pod's UID when the path is under the kubelet's
	// kubepods tree.
	PodUID string `json:"pod_uid,omitempty"`
}

// Cgroup reads /proc/PID/cgroup (through procfs) and parses it. A missing
// process passes the not-exist error through unwrapped.
func (r Roots) Cgroup(pid int) (Cgroup, error) {
	pfs, err := r.procFS()
	if err != nil {
		return Cgroup{}, err
	}
	p, err := pfs.Proc(pid)
	if err != nil {
		return Cgroup{}, err
	}
	cgs, err := p.Cgroups()
	if err != nil {
		return Cgroup{}, err
	}
	return ParseCgroup(cgroupPath(cgs)), nil
}

// Unit is the systemd service pid runs in, or "".
func (r Roots) Unit(pid int) (string, error) {
	cg, err := r.Cgroup(pid)
	return cg.Unit, err
}

// cgroupPath picks the hierarchy that follows systemd's units: the v1
// "name=systemd" one, else the v2 unified one ("0::PATH"). Other v1
// controllers are ignored: their paths need not follow units.
func cgroupPath(cgs []procfs.Cgroup) string {
	unified := ""
	for _, cg := range cgs {
		for _, c := range cg.Controllers {
			if c == "name=systemd" {
				return cg.Path
			}
		}
		if cg.HierarchyID == 0 && len(cg.Controllers) == 0 {
			unified = cg.Path
		}
	}
	return unified
}

// ParseCgroup reads a cgroup path: its innermost systemd service, and the
// container ID or pod UID it shows, if any.
func ParseCgroup(cgroupPath string) Cgroup {
	cg := Cgroup{Path: cgroupPath}
	for _, part := range strings.Split(path.Clean(cgroupPath), "/") {
		if name, ok := strings.CutSuffix(part, ".service"); ok && name != "" {
			cg.Unit = part
		}
		if id := containerID(part); id != "" {
			cg.ContainerID = id
		}
		if uid := podUID(part); uid != "" {
			cg.PodUID = uid
		}
	}
	return cg
}

// containerScopes are the prefixes runtimes give a container's scope under
// systemd's cgroup driver ("docker-ID.scope", "cri-containerd-ID.scope").
var containerScopes = []string{"docker-", "cri-containerd-", "crio-", "libpod-", "containerd-"}

// containerID returns the ID in one path component: "docker-ID.scope" and
// its kin under systemd's driver, or a bare 64-hex ID under the cgroupfs
// driver ("/docker/ID", "/kubepods/besteffort/podUID/ID").
func containerID(part string) string {
	if isContainerID(part) {
		return part
	}
	scope, ok := strings.CutSuffix(part, ".scope")
	if !ok {
		return ""
	}
	for _, prefix := range containerScopes {
		if id, ok := strings.CutPrefix(scope, prefix); ok && isContainerID(id) {
			return id
		}
	}
	return ""
}

// isContainerID reports whether s is a 64-hex-digit container ID.
func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// podUID returns the pod UID of a kubelet path component: "podUID" under
// the cgroupfs driver, or "kubepods[-QOS]-podUID.slice" under systemd's,
// where the UID's dashes are written as underscores.
func podUID(part string) string {
	if slice, ok := strings.CutSuffix(part, ".slice"); ok && strings.HasPrefix(slice, "kubepods") {
		if i := strings.LastIndex(slice, "-pod"); i >= 0 {
			return validUID(strings.ReplaceAll(slice[i+len("-pod"):], "_", "-"))
		}
		return ""
	}
	if uid, ok := strings.CutPrefix(part, "pod"); ok {
		return validUID(uid)
	}
	return ""
}

// validUID returns uid when it has a UID's shape (8-4-4-4-12 hex digits).
func validUID(uid string) string {
	if len(uid) != 36 {
		return ""
	}
	for i, c := range uid {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return ""
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return ""
			}
		}
	}
	return uid
}
