package advise

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/sysctl/registry"
)

// attachWorkloads names, on each finding, the Kubernetes pod its process or
// its listener's owners run in; a finding about the namespace as a whole
// (a tunable, a counter) gets the pod when the namespace is one pod's own.
// A tunable of a pod's own network namespace lives as long as the pod: the
// fix says where to keep it.
func attachWorkloads(v *view, fs []Finding) {
	podNetns, inPod := namespacePod(v)
	for i := range fs {
		f := &fs[i]
		if w, ok := v.findingWorkload(f); ok {
			f.Workload = w
		} else if inPod {
			f.Workload = podNetns
		}
		if !inPod || f.Key == "" {
			continue
		}
		if k, ok := registry.Lookup(f.Key); ok && k.Scope == registry.ScopeNetns && f.Fix != "" {
			f.Fix += "; " + podSysctlNote(podNetns, f.Key)
		}
	}
}

// findingWorkload is the pod of f's process (Subject "pid:N") or of its
// listener's owners, when they all run in one.
func (v *view) findingWorkload(f *Finding) (model.Workload, bool) {
	if pid, ok := strings.CutPrefix(f.Subject, "pid:"); ok {
		n, err := strconv.Atoi(pid)
		if err != nil {
			return model.Workload{}, false
		}
		for _, l := range v.now.Listeners {
			for _, p := range l.Processes {
				if p.PID == n && p.InPod() {
					return p.Workload, true
				}
			}
		}
		return model.Workload{}, false
	}
	subject := f.Listener
	if subject == "" {
		subject = f.Subject
	}
	var owners []model.Process
	for _, l := range v.now.Listeners {
		if SubjectOf(l) == subject {
			owners = append(owners, l.Processes...)
		}
	}
	return onePod(owners, true)
}

// namespacePod is the pod whose own network namespace the snapshot is: one
// that is not the host's, every owned listener of which runs in that pod.
func namespacePod(v *view) (model.Workload, bool) {
	if !v.in.ChildNetns {
		return model.Workload{}, false // the node's: host-network pods share it
	}
	var owners []model.Process
	for _, l := range v.now.Listeners {
		owners = append(owners, l.Processes...)
	}
	w, ok := onePod(owners, false)
	return model.Workload{Pod: w.Pod, Namespace: w.Namespace, PodUID: w.PodUID}, ok
}

// onePod is the pod every one of ps runs in, if there is one; with
// container, also their container when they share it.
func onePod(ps []model.Process, container bool) (model.Workload, bool) {
	var w model.Workload
	for i, p := range ps {
		switch {
		case !p.InPod():
			return model.Workload{}, false
		case i == 0:
			w = p.Workload
		case p.Pod != w.Pod || p.Namespace != w.Namespace:
			return model.Workload{}, false
		case p.Container != w.Container || p.ContainerID != w.ContainerID:
			w.Container, w.ContainerID = "", ""
		}
	}
	if !container {
		w.Container, w.ContainerID = "", ""
	}
	return w, len(ps) > 0
}

// podSysctlNote says where a tunable of a pod's own network namespace is
// kept: the namespace, and what is written in it, goes with the pod.
func podSysctlNote(w model.Workload, key string) string {
	allowed := "only where kubelet's --allowed-unsafe-sysctls lists it"
	if safePodSysctls[key] {
		allowed = "allowed by default"
	}
	return fmt.Sprintf("in pod %s the setting lasts as long as the pod's network namespace: to keep it, set it in the pod's spec (securityContext.sysctls; %s %s)",
		w.PodName(), key, allowed)
}

// safePodSysctls are the per-network-namespace tunables backlogctl knows
// that Kubernetes lets any pod set (pkg/kubelet/sysctl/safe_sysctls.go);
// the others must be allowed on the node.
var safePodSysctls = map[string]bool{"net.ipv4.tcp_syncookies": true}
