package podstest

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

	"github.com/backlogctl/backlogctl/internal/nstest"
	"github.com/backlogctl/backlogctl/internal/ociimage"
)

// The labels kubelet puts on every sandbox and container it asks the
// runtime to create (pkg/kubelet/types/labels.go).
const (
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
)

// Image is the stand-in workload's image (testdata/app), built by ociimage
// and imported into containerd: nothing is pulled.
const Image = "backlogctl.test/app:1"

// AppPath is the stand-in's path in its image.
const AppPath = ociimage.BinaryPath

// Containerd is a real containerd (Debian's, with its CRI plugin and runc)
// serving one test.
type Containerd struct {
	// Socket is its CRI socket.
	Socket string
	// CRI is a client of it, as kubelet's.
	CRI runtimeapi.RuntimeServiceClient

	dir  string
	top  string // the test's cgroup subtree
	pods []string
}

// StartContainerd starts containerd for a test in its own network and mount
// namespaces (an nstest.IsolateMount child): it mounts a tmpfs on /run,
// where containerd keeps its shims' sockets, keeps its state in a
// directory of the test's, runs pods under a cgroup subtree of the test's
// own and imports the stand-in workload as Image. Everything it and its
// pods made (processes, cgroups, mounts, directories) is removed when the
// test ends.
func StartContainerd(t *testing.T) *Containerd {
	t.Helper()
	if !nstest.InChild(t) {
		t.Fatal("podstest.StartContainerd outside an nstest.IsolateMount child: refusing to touch the host's /run")
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "tmpfs", "/run").CombinedOutput(); err != nil {
		t.Fatalf("mounting a tmpfs on /run: %v\n%s", err, out)
	}
	containerd := nstest.LookTool(t, "containerd")
	ctr := nstest.LookTool(t, "ctr")
	nstest.LookTool(t, "runc")
	dir := t.TempDir()
	c := &Containerd{Socket: filepath.Join(dir, "containerd.sock"), dir: dir, top: "backlogctl-test-" + NewUID()[:8]}
	config := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
[grpc]
  address = %[3]q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
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
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.Socket, filepath.Join(dir, "cni"), filepath.Join(dir, "runc"), Image)
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
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("containerd log:\n%s", tail(string(b), 4000))
		}
		c.stopPods()
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
		// containerd by design) and any process left in the pods' cgroups.
		killShims(c.Socket)
		removeCgroups(c.top)
		unmountUnder(dir)
	})
	nstest.Eventually(t, 60*time.Second, "containerd to serve its socket", func() bool {
		_, err := os.Stat(c.Socket)
		return err == nil
	})
	conn, err := grpc.NewClient("unix://"+c.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c.CRI = runtimeapi.NewRuntimeServiceClient(conn)

	// The image: the stand-in binary on ociimage's base, imported by ctr.
	bin := filepath.Join(dir, "app")
	build := exec.Command("go", "build", "-o", bin, "./testdata/app")
	build.Dir = sourceDir()
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
	name, _, _ := strings.Cut(Image, ":")
	if out, err := exec.Command(ctr, "--address", c.Socket, "-n", "k8s.io", "images", "import", "--base-name", name, tarball).CombinedOutput(); err != nil {
		t.Fatalf("ctr images import: %v\n%s", err, out)
	}
	return c
}

// PodSpec is a pod as kubelet would ask the runtime to run it.
type PodSpec struct {
	Name, Namespace string
	Containers      []ContainerSpec
}

// ContainerSpec is one container of a pod: the stand-in run with Args.
type ContainerSpec struct {
	Name string
	Args []string
}

// Pod is a running pod.
type Pod struct {
	UID, SandboxID string
	// ContainerIDs are its containers' IDs, by name.
	ContainerIDs map[string]string
}

// RunPod runs spec as kubelet would: a sandbox in the node's network
// namespace (the test's) under a cgroup parent shaped as kubelet's
// cgroupfs driver makes it (.../kubepods/besteffort/pod<UID>), and its
// containers, with kubelet's labels. They are stopped and removed when the
// test ends.
func (c *Containerd) RunPod(t testing.TB, spec PodSpec) *Pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	uid := NewUID()
	podLabels := map[string]string{labelPodName: spec.Name, labelPodNamespace: spec.Namespace, labelPodUID: uid}
	sandboxConfig := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: spec.Name, Namespace: spec.Namespace, Uid: uid},
		Labels:   podLabels,
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: "/" + c.top + "/kubepods/besteffort/pod" + uid,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE},
			},
		},
	}
	sandbox, err := c.CRI.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sandboxConfig})
	if err != nil {
		t.Fatalf("RunPodSandbox: %v", err)
	}
	c.pods = append(c.pods, sandbox.PodSandboxId)
	pod := &Pod{UID: uid, SandboxID: sandbox.PodSandboxId, ContainerIDs: map[string]string{}}
	for _, cs := range spec.Containers {
		labels := map[string]string{labelContainerName: cs.Name}
		for k, v := range podLabels {
			labels[k] = v
		}
		created, err := c.CRI.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
			PodSandboxId: sandbox.PodSandboxId,
			Config: &runtimeapi.ContainerConfig{
				Metadata: &runtimeapi.ContainerMetadata{Name: cs.Name},
				Image:    &runtimeapi.ImageSpec{Image: Image},
				Command:  []string{AppPath},
				Args:     cs.Args,
				Labels:   labels,
				LogPath:  cs.Name + ".log",
			},
			SandboxConfig: sandboxConfig,
		})
		if err != nil {
			t.Fatalf("CreateContainer %s: %v", cs.Name, err)
		}
		if _, err := c.CRI.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: created.ContainerId}); err != nil {
			t.Fatalf("StartContainer %s: %v", cs.Name, err)
		}
		pod.ContainerIDs[cs.Name] = created.ContainerId
	}
	return pod
}

// stopPods stops and removes every pod RunPod started, containers first.
func (c *Containerd) stopPods() {
	if c.CRI == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, id := range c.pods {
		if cs, err := c.CRI.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: id}}); err == nil {
			for _, ct := range cs.Containers {
				c.CRI.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: ct.Id, Timeout: 5})
				c.CRI.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: ct.Id})
			}
		}
		c.CRI.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id})
		c.CRI.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id})
	}
}

// NewUID is a random pod UID (RFC 4122 version 4, as Kubernetes makes them).
func NewUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// sourceDir is this package's directory, where testdata/app is.
func sourceDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
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
