package pods

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/pods/podstest"
)

// A real containerd (Debian's, with its CRI plugin and runc) runs a pod in
// the test's network namespace, as kubelet would ask it to: a sandbox and a
// container with kubelet's labels, under a kubelet-style cgroup parent. The
// container's process listens; inspect finds it as the listener's owner,
// hostfs reads its cgroup, and the resolver names it shop/web/app through
// containerd's CRI socket (podstest.StartContainerd).
func TestResolverWithContainerd(t *testing.T) {
	if !nstest.IsolateMount(t) {
		return
	}
	rt := podstest.StartContainerd(t)
	port := nstest.FreePort(t)
	pod := rt.RunPod(t, podstest.PodSpec{Name: "web", Namespace: "shop", Containers: []podstest.ContainerSpec{
		{Name: "app", Args: []string{"listen", fmt.Sprintf("127.0.0.1:%d", port)}}}})

	var owner int
	nstest.Eventually(t, 60*time.Second, "the container's listener and its owner", func() bool {
		ls, err := inspect.Listeners(nil, []uint16{port})
		if err != nil || len(ls) != 1 {
			return false
		}
		scan, err := inspect.ScanOwners("/proc", hostfs.NewInodeSet([]uint32{ls[0].Inode}), false)
		if err != nil || len(scan.Owners[ls[0].Inode]) == 0 {
			return false
		}
		owner = scan.Owners[ls[0].Inode][0]
		return true
	})
	cg, err := hostfs.Host().Cgroup(owner)
	if err != nil {
		t.Fatal(err)
	}
	if cg.ContainerID != pod.ContainerIDs["app"] || cg.PodUID != pod.UID {
		t.Fatalf("cgroup %q: container %q pod %q, want %q and %q", cg.Path, cg.ContainerID, cg.PodUID, pod.ContainerIDs["app"], pod.UID)
	}
	r := NewResolver(&CRI{Endpoint: rt.Socket})
	got, ok, err := r.Lookup(context.Background(), cg)
	if err != nil || !ok {
		t.Fatalf("Lookup: ok %v, %v", ok, err)
	}
	if got.String() != "shop/web/app" || got.ID != pod.ContainerIDs["app"] || got.PodUID != pod.UID {
		t.Errorf("resolved %+v, want shop/web/app", got)
	}
	t.Logf("listener 127.0.0.1:%d, owner pid %d, cgroup %s: %s", port, owner, cg.Path, got)
}
