package pods

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/internal/ociimage"
)

// A real containerd (Debian's, with its CRI plugin and runc) runs a pod in
// the test's network namespace, as kubelet would ask it to: a sandbox and a
// container with kubelet's labels, under a kubelet-style cgroup parent. The
// container's process listens; inspect finds it as the listener's owner,
// hostfs reads its cgroup, and the resolver names it shop/web/app through
// containerd's CRI socket. The image is built by ociimage from a stand-in
// binary and imported with ctr: nothing is pulled. Everything runs in the
// test's network and mount namespaces (a tmpfs on /run, where containerd
// keeps its shims' sockets), under a cgroup subtree of the test's own, and
// every process, cgroup and directory it made is removed at the end.
func TestResolverWithContainerd(t *testing.T) {
	if !nstest.IsolateMount(t) {
		return
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "tmpfs", "/run").CombinedOutput(); err != nil {
		t.Fatalf("mounting a tmpfs on /run: %v\n%s", err, out)
	}
	containerd := nstest.LookTool(t, "containerd")
	ctr := nstest.LookTool(t, "ctr")
	nstest.LookTool(t, "runc")
	dir := t.TempDir()
	sock := filepath.Join(dir, "containerd.sock")
	config := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
[grpc]
  address = %[3]q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "backlogctl.test/app:1"
  # The build machines refuse lowering oom_score_adj (the sandbox's -998).
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
    NoPivotRoot = true
    Root = %[5]q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %[4]q
    conf_dir = %[4]q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, filepath.Join(dir, "cni"), filepath.Join(dir, "runc"))
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	daemon := exec.Command(containerd, "--config", cfg)
	daemon.Stdout, daemon.Stderr = logf, logf
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	uid := newUID()
	// A cgroup parent of the test's own, shaped as kubelet's cgroupfs driver
	// makes it (.../pod<UID>).
	top := "backlogctl-test-" + uid[:8]
	var cri runtimeapi.RuntimeServiceClient
	var podID, containerID string
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if containerID != "" {
			cri.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: containerID, Timeout: 5})
			cri.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: containerID})
		}
		if podID != "" {
			cri.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID})
			cri.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID})
		}
		daemon.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { daemon.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			daemon.Process.Kill()
			<-done
		}
		logf.Close()
		// Whatever outlived the calls above: the shims (they outlive
		// containerd by design) and any process left in the pod's cgroups.
		killShims(sock)
		removeCgroups(top)
		unmountUnder(dir)
	})
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("containerd log:\n%s", tail(string(b), 4000))
		}
	}()
	nstest.Eventually(t, 60*time.Second, "containerd to serve its socket", func() bool {
		_, err := os.Stat(sock)
		return err == nil
	})

	// The image: the stand-in binary on ociimage's base, imported by ctr.
	bin := filepath.Join(dir, "app")
	build := exec.Command("go", "build", "-o", bin, "./testdata/app")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the stand-in: %v\n%s", err, out)
	}
	p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	img, err := ociimage.Image(bin, p, ociimage.Meta{Version: "1", Created: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(dir, "app.tar")
	if err := ociimage.Add(filepath.Join(dir, "oci"), "1", p, img, tarball); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(ctr, "--address", sock, "-n", "k8s.io", "images", "import", "--base-name", "backlogctl.test/app", tarball).CombinedOutput(); err != nil {
		t.Fatalf("ctr images import: %v\n%s", err, out)
	}

	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cri = runtimeapi.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	podLabels := map[string]string{labelPodName: "web", labelPodNamespace: "shop", labelPodUID: uid}
	sandboxConfig := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: "web", Namespace: "shop", Uid: uid},
		Labels:   podLabels,
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: "/" + top + "/kubepods/besteffort/pod" + uid,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE},
			},
		},
	}
	pod, err := cri.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sandboxConfig})
	if err != nil {
		t.Fatalf("RunPodSandbox: %v", err)
	}
	podID = pod.PodSandboxId
	port := nstest.FreePort(t)
	containerLabels := map[string]string{labelContainerName: "app"}
	for k, v := range podLabels {
		containerLabels[k] = v
	}
	created, err := cri.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId: pod.PodSandboxId,
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "app"},
			Image:    &runtimeapi.ImageSpec{Image: "backlogctl.test/app:1"},
			Command:  []string{ociimage.BinaryPath},
			Args:     []string{"listen", fmt.Sprintf("127.0.0.1:%d", port)},
			Labels:   containerLabels,
			LogPath:  "app.log",
		},
		SandboxConfig: sandboxConfig,
	})
	if err != nil {
		t.Fatalf("CreateContainer: %v", err)
	}
	containerID = created.ContainerId
	if _, err := cri.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: created.ContainerId}); err != nil {
		t.Fatalf("StartContainer: %v", err)
	}

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
	if cg.ContainerID != created.ContainerId || cg.PodUID != uid {
		t.Fatalf("cgroup %q: container %q pod %q, want %q and %q", cg.Path, cg.ContainerID, cg.PodUID, created.ContainerId, uid)
	}
	r := NewResolver(&CRI{Endpoint: sock})
	got, ok, err := r.Lookup(ctx, cg)
	if err != nil || !ok {
		t.Fatalf("Lookup: ok %v, %v", ok, err)
	}
	if got.String() != "shop/web/app" || got.ID != created.ContainerId || got.PodUID != uid {
		t.Errorf("resolved %+v, want shop/web/app", got)
	}
	t.Logf("listener 127.0.0.1:%d, owner pid %d, cgroup %s: %s", port, owner, cg.Path, got)
}

func newUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// unmountUnder detaches every mount below dir (the tasks' root
// filesystems), deepest first, so the test's directory can be removed.
func unmountUnder(dir string) {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			points = append(points, f[4])
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	for _, p := range points {
		syscall.Unmount(p, syscall.MNT_DETACH)
	}
}

// killShims kills the containerd shims serving the containerd at sock,
// found by the -address they were started with.
func killShims(sock string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), "containerd-shim") || !strings.Contains(string(b), sock) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// removeCgroups kills any process left in the test's cgroup subtree and
// removes the subtree from every hierarchy, deepest first (runc leaves the
// parents it created).
func removeCgroups(top string) {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + top)
	if _, err := os.Stat("/sys/fs/cgroup/" + top); err == nil {
		roots = append(roots, "/sys/fs/cgroup/"+top)
	}
	for _, root := range roots {
		var dirs []string
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			for range 50 {
				b, _ := os.ReadFile(filepath.Join(dirs[i], "cgroup.procs"))
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil {
						syscall.Kill(pid, syscall.SIGKILL)
					}
				}
				if os.Remove(dirs[i]) == nil || errors.Is(os.Remove(dirs[i]), fs.ErrNotExist) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return strings.TrimSpace(s)
}
