package advise

import (
	"strings"
	"testing"

	"github.com/backlogctl/backlogctl/model"
)

var webApp = model.Workload{Pod: "web-7d4b9c8f6-x2k9p", Namespace: "shop", Container: "app", ContainerID: "a1b2", PodUID: "0f9a"}

func inPod(p model.Process, w model.Workload) model.Process {
	p.Workload = w
	return p
}

// Findings about a pod's process or listener name the pod; the restart a
// fix asks for says how a pod is restarted.
func TestFindingsNameThePod(t *testing.T) {
	worker := model.Workload{Pod: "api-5c9d8", Namespace: "shop", Container: "api"}
	in := once(with(setSysctl("net.core.somaxconn", 128), listening(
		lst(80, 129, 128, nil, inPod(proc(41, "gunicorn", 10, 1024, 524288), webApp)),
		lst(81, 129, 128, nil, inPod(proc(42, "api", 1024, 1024, 524288), worker)),
		lst(22, 129, 128, nil, proc(1, "sshd", 5, 1024, 1024)))))
	fs := Advise(in)
	f, ok := FindingByID(fs, "accept-queue-full-at-nofile", "pid:42")
	if !ok {
		t.Fatalf("no accept-queue-full-at-nofile in %+v", fs)
	}
	if f.Workload != worker {
		t.Errorf("pid finding's workload %+v, want %+v", f.Workload, worker)
	}
	if want := "it lasts until container shop/api-5c9d8/api restarts: make it permanent in its image (`ulimit -n 65536` in the entrypoint"; !strings.Contains(f.Fix, want) {
		t.Errorf("fix %q does not say %q", f.Fix, want)
	}
	f, ok = FindingByID(fs, "somaxconn-clamps-listener", "127.0.0.1:80")
	if !ok {
		t.Fatalf("no somaxconn-clamps-listener in %+v", fs)
	}
	if f.Pod != webApp.Pod || f.Namespace != "shop" || f.Container != "app" {
		t.Errorf("listener finding's workload %+v, want shop/web/app", f.Workload)
	}
	if want := "(in pod shop/web-7d4b9c8f6-x2k9p: `kubectl -n shop rollout restart` the workload that owns it"; !strings.Contains(f.Fix, want) {
		t.Errorf("fix %q does not say %q", f.Fix, want)
	}
	// The node's own namespace (host-network pods share it): no note that
	// the setting goes with a pod.
	if strings.Contains(f.Fix, "securityContext.sysctls") {
		t.Errorf("fix for the node's namespace speaks of a pod's sysctls: %q", f.Fix)
	}
	for _, f := range fs {
		if f.Subject == "127.0.0.1:22" && f.InPod() {
			t.Errorf("sshd's finding named a pod: %+v", f)
		}
	}
}

// In a pod's own network namespace (every owner in one pod, not the
// node's), a tunable's fix says it lasts only as long as the pod, and where
// to keep it; findings about the namespace name the pod.
func TestPodNamespaceSysctlNote(t *testing.T) {
	in := once(with(setSysctl("net.core.somaxconn", 128), setSysctl("net.ipv4.tcp_syncookies", 0), listening(
		lst(80, 129, 128, nil, inPod(proc(42, "gunicorn", 10, 1024, 1024), webApp)),
		lst(9090, 0, 128, nil, inPod(proc(43, "exporter", 10, 1024, 1024), model.Workload{Pod: webApp.Pod, Namespace: "shop", Container: "metrics"})))))
	in.ChildNetns = true
	fs := Advise(in)
	f, ok := FindingByID(fs, "somaxconn-clamps-listener", "127.0.0.1:80")
	if !ok {
		t.Fatalf("no somaxconn-clamps-listener in %+v", fs)
	}
	if want := "in pod shop/web-7d4b9c8f6-x2k9p the setting lasts as long as the pod's network namespace: to keep it, set it in the pod's spec (securityContext.sysctls; net.core.somaxconn only where kubelet's --allowed-unsafe-sysctls lists it)"; !strings.Contains(f.Fix, want) {
		t.Errorf("fix %q lacks %q", f.Fix, want)
	}
	var cookies *Finding
	for i := range fs {
		if fs[i].Key == "net.ipv4.tcp_syncookies" {
			cookies = &fs[i]
		}
	}
	if cookies == nil {
		t.Fatalf("no tcp_syncookies finding in %+v", fs)
	}
	if cookies.Pod != webApp.Pod || cookies.Container != "" || !strings.Contains(cookies.Fix, "net.ipv4.tcp_syncookies allowed by default") {
		t.Errorf("syncookies finding: workload %+v, fix %q", cookies.Workload, cookies.Fix)
	}
}
