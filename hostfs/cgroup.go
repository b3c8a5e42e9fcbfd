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
	// ContainerID is the container's ID when the path shows a docker,
	// containerd, cri-o or podman container.
	ContainerID string `json:"container_id,omitempty"`
	// Runtime is what the scope's name says ran it: docker,
	// cri-containerd, crio, libpod or containerd; "" for a bare ID.
	Runtime string `json:"runtime,omitempty"`
	// PodUID is the Kubernetes pod's UID when the path is under the kubelet's
	// kubepods tree.
	PodUID string `json:"pod_uid,omitempty"`
}

// Cgroup reads /proc/PID/cgroup (through procfs) and parses it: the path
// and unit of the hierarchy that follows systemd's units, and the container
// and pod of whichever hierarchy shows one (on a cgroup v1 host without
// systemd's named hierarchy only the controllers' paths do). A missing
// process passes the not-exist error through unwrapped.
func (r Roots) Cgroup(pid int) (Cgroup, error) {
	cgs, err := r.cgroups(pid)
	if err != nil {
		return Cgroup{}, err
	}
	cg := ParseCgroup(cgroupPath(cgs))
	if cg.ContainerID == "" && cg.PodUID == "" {
		for _, c := range cgs {
			if other := ParseCgroup(c.Path); other.ContainerID != "" || other.PodUID != "" {
				cg.ContainerID, cg.Runtime, cg.PodUID = other.ContainerID, other.Runtime, other.PodUID
				break
			}
		}
	}
	return cg, nil
}

// CgroupHint names the container or pod pid runs in ("docker:3f2a9c0d1e2f",
// "pod:UID"; see Cgroup.Hint), from whichever hierarchy shows one first: a
// v1 host may show the container in any controller's path. "" when none does.
func (r Roots) CgroupHint(pid int) (string, error) {
	cg, err := r.Cgroup(pid)
	if err != nil {
		return "", err
	}
	return cg.Hint(), nil
}

func (r Roots) cgroups(pid int) ([]procfs.Cgroup, error) {
	p, err := r.proc(pid)
	if err != nil {
		return nil, err
	}
	return p.Cgroups()
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
	parts := strings.Split(path.Clean(cgroupPath), "/")
	for i, part := range parts {
		if name, ok := strings.CutSuffix(part, ".service"); ok && name != "" {
			cg.Unit = part
		}
		if id, runtime := containerID(part); id != "" {
			cg.ContainerID, cg.Runtime = id, runtime
		} else if i > 0 && parts[i-1] == "docker" && len(part) >= 12 && isHex(part) {
			cg.ContainerID, cg.Runtime = part, "docker" // cgroupfs driver: /docker/ID
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

// containerID returns the ID in one path component, and the runtime its
// scope names: "docker-ID.scope" and its kin under systemd's driver (an ID
// of at least 12 hex digits), a bare 64-hex ID under the cgroupfs driver
// ("/kubepods/besteffort/podUID/ID"), or CRI-O's "crio-ID" under it.
func containerID(part string) (id, runtime string) {
	if len(part) == 64 && isHex(part) {
		return part, ""
	}
	if id, ok := strings.CutPrefix(part, "crio-"); ok && len(id) == 64 && isHex(id) {
		return id, "crio"
	}
	scope, ok := strings.CutSuffix(part, ".scope")
	if !ok {
		return "", ""
	}
	for _, prefix := range containerScopes {
		if id, ok := strings.CutPrefix(scope, prefix); ok && len(id) >= 12 && isHex(id) {
			return id, strings.TrimSuffix(prefix, "-")
		}
	}
	return "", ""
}

// isHex reports whether s is lower-case hex digits only.
func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return s != ""
}

// Hint names the container or pod in a few characters: "pod:UID" when the
// path shows a pod, else "RUNTIME:ID12" (docker's short ID) for a
// container, "" otherwise.
func (cg Cgroup) Hint() string {
	switch {
	case cg.PodUID != "":
		return "pod:" + cg.PodUID
	case cg.ContainerID != "":
		runtime := cg.Runtime
		if runtime == "" {
			runtime = "container"
		}
		return runtime + ":" + cg.ContainerID[:min(12, len(cg.ContainerID))]
	}
	return ""
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
