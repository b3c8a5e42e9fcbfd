package collect

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/pods/podstest"
)

// testdata/pods/proc holds the cgroups of a pod's container (10) and its
// sandbox (11), a host service (12), a Docker container outside Kubernetes
// (13) and a pod the runtime does not know (14).
const podsProc = "testdata/pods/proc"

var (
	nginx = model.Workload{Pod: podstest.WebPod, Namespace: "shop", Container: "nginx",
		ContainerID: podstest.NginxID, PodUID: podstest.WebPodUID}
	sandbox = model.Workload{Pod: podstest.WebPod, Namespace: "shop",
		ContainerID: podstest.WebSandboxID, PodUID: podstest.WebPodUID}
	dockerOnly = model.Workload{ContainerID: "4f1e2a3b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607"}
	unknownPod = model.Workload{ContainerID: "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9",
		PodUID: "1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7081"}
)

// Each owner's workload: IDs from its cgroup, names from the runtime, which
// is listed once for all of them.
func TestPodNamer(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "containerd.sock")
	f := podstest.Serve(t, sock, podstest.Recorded)
	n := newPodNamer(hostfs.Roots{Proc: podsProc, Runtime: "unix://" + sock}, false)
	want := map[int]model.Workload{10: nginx, 11: sandbox, 12: {}, 13: dockerOnly, 14: unknownPod, 99: {}}
	for pid, w := range want {
		got, pending := n.workload(pid)
		if pending {
			t.Errorf("pid %d pending in the synchronous mode", pid)
		}
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("pid %d (-want +got):\n%s", pid, diff)
		}
	}
	if w := n.take(); len(w) != 0 {
		t.Errorf("warnings %q", w)
	}
	if calls := f.Calls(); len(calls) != 2 {
		t.Errorf("CRI calls %q, want one listing (ListContainers, ListPodSandbox)", calls)
	}
	if got := nginx.Ref(); got != "shop/"+podstest.WebPod+"/nginx" {
		t.Errorf("Ref() = %q", got)
	}
}

// In the background mode (the exporter's) a pod's process is pending until
// the runtime has answered; a process in no pod never is, and the runtime
// is not asked about it.
func TestPodNamerBackground(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "containerd.sock")
	f := podstest.Serve(t, sock, podstest.Recorded)
	release := f.Hold()
	n := newPodNamer(hostfs.Roots{Proc: podsProc, Runtime: sock}, true)
	for _, pid := range []int{12, 13} {
		if _, pending := n.workload(pid); pending {
			t.Errorf("pid %d, in no pod, pending", pid)
		}
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Errorf("the runtime was asked %q about processes in no pod", calls)
	}
	got, pending := n.workload(10)
	if !pending || got.Pod != "" || got.ContainerID != podstest.NginxID {
		t.Errorf("during the listing: %+v pending %v, want the IDs only, pending", got, pending)
	}
	release()
	nstest.Eventually(t, 10*time.Second, "the listing to end", func() bool {
		got, pending = n.workload(10)
		return !pending
	})
	if diff := cmp.Diff(nginx, got); diff != "" {
		t.Errorf("after the listing (-want +got):\n%s", diff)
	}
}

// Without a runtime socket a pod is shown by its UID, and the warning says
// so once, naming the variable that points at the socket.
func TestPodNamerNoRuntime(t *testing.T) {
	n := newPodNamer(hostfs.Roots{Proc: podsProc, Runtime: filepath.Join(t.TempDir(), "absent.sock")}, false)
	for range 2 {
		got, _ := n.workload(10)
		if want := (model.Workload{ContainerID: podstest.NginxID, PodUID: podstest.WebPodUID}); got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	}
	w := n.take()
	if len(w) != 1 || !strings.Contains(w[0], "by UID") || !strings.Contains(w[0], hostfs.EnvRuntimeEndpoint) {
		t.Errorf("warnings %q, want one naming %s", w, hostfs.EnvRuntimeEndpoint)
	}
	if n.workload(10); len(n.take()) != 0 {
		t.Error("the warning was given twice")
	}
	var none *podNamer
	if got, pending := none.workload(10); got != (model.Workload{}) || pending {
		t.Errorf("a nil namer named %+v", got)
	}
}

// The exporter's owner cache holds a listener back (OwnersPending) while
// the runtime is being asked about its owner's pod, so no series is
// published without its pod labels; once the runtime has answered, the
// owner carries its pod. This process stands in for a pod's: its cgroup is
// read from a fixture tree that puts it in shop/web's nginx container.
func TestOwnerCachePendingPod(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	cgroups := filepath.Join(t.TempDir(), "proc")
	pidDir := filepath.Join(cgroups, strconv.Itoa(os.Getpid()))
	if err := os.MkdirAll(pidDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(pidDir, os.DirFS(filepath.Join(podsProc, "10"))); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "containerd.sock")
	release := podstest.Serve(t, sock, podstest.Recorded).Hold()
	defer release()
	c := &ownerCache{MaxAge: 1 << 62, Background: true, Pods: newPodNamer(hostfs.Roots{Proc: cgroups, Runtime: sock}, true)}
	_, ep := nstest.Listen(t, netip.MustParseAddrPort("127.0.0.1:0"), 4, nstest.ListenOpts{})
	attach := func() model.Listener {
		snap, err := gatherHere(Options{})
		if err != nil {
			t.Fatal(err)
		}
		c.Attach(snap)
		return nstest.FindListener(t, snap.Listeners, ep.Port())
	}
	if l := attach(); !l.OwnersPending || len(l.Processes) != 1 || l.Processes[0].Pod != "" || l.Processes[0].PodUID != podstest.WebPodUID {
		t.Fatalf("while the runtime is asked: pending %v, owners %+v; want pending, the pod's UID only", l.OwnersPending, l.Processes)
	}
	release()
	nstest.Eventually(t, 10*time.Second, "the owner's pod, named", func() bool {
		l := attach()
		return !l.OwnersPending && len(l.Processes) == 1 && l.Processes[0].Workload == nginx
	})
}
