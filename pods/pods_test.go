package pods

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/internal/cmd/app"
	"github.com/backlogctl/backlogctl/internal/nstest"
)

// fakeRuntime serves testdata/containerd.json over the CRI on a unix
// socket, as containerd does, and records every method called. The
// responses are written in the shape containerd returns them (kubelet's
// io.kubernetes.* labels), for the cases a live runtime does not easily
// give (a container without kubelet's labels, two pods); containerd_test.go
// runs the real one.
type fakeRuntime struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	containers *runtimeapi.ListContainersResponse
	sandboxes  *runtimeapi.ListPodSandboxResponse

	mu    sync.Mutex
	calls []string
}

func (f *fakeRuntime) ListContainers(context.Context, *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	return f.containers, nil
}

func (f *fakeRuntime) ListPodSandbox(context.Context, *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	return f.sandboxes, nil
}

func (f *fakeRuntime) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// startRuntime serves the recorded responses at DIR/run/containerd/containerd.sock.
func startRuntime(t *testing.T) (root string, f *fakeRuntime) {
	t.Helper()
	raw, err := os.ReadFile("testdata/containerd.json")
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ Sandboxes, Containers json.RawMessage }
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	f = &fakeRuntime{containers: &runtimeapi.ListContainersResponse{}, sandboxes: &runtimeapi.ListPodSandboxResponse{}}
	if err := protojson.Unmarshal(rec.Containers, f.containers); err != nil {
		t.Fatal(err)
	}
	if err := protojson.Unmarshal(rec.Sandboxes, f.sandboxes); err != nil {
		t.Fatal(err)
	}
	root = t.TempDir()
	sock := filepath.Join(root, "run/containerd/containerd.sock")
	if err := os.MkdirAll(filepath.Dir(sock), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		f.mu.Lock()
		f.calls = append(f.calls, info.FullMethod)
		f.mu.Unlock()
		return h(ctx, req)
	}))
	runtimeapi.RegisterRuntimeServiceServer(srv, f)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return root, f
}

const (
	podUID    = "0f9a8b7c-1d2e-4f3a-9b8c-7d6e5f4a3b2c"
	nginxID   = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	corednsID = "c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2"
)

// Cgroup paths as kubelet and the runtimes lay them out, under the systemd
// and the cgroupfs drivers, read by hostfs's one cgroup parser.
func TestResolverNamesCgroups(t *testing.T) {
	root, f := startRuntime(t)
	sock, err := Detect(root)
	if err != nil {
		t.Fatal(err)
	}
	r := NewResolver(&CRI{Endpoint: sock})
	web := Container{Pod: "web-7d4b9c8f6-x2k9p", Namespace: "shop", PodUID: podUID}
	nginx := web
	nginx.ID, nginx.Name = nginxID, "nginx"
	tests := []struct {
		name, path string
		want       Container
		ok         bool
	}{
		{"containerd, systemd driver",
			"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f9a8b7c_1d2e_4f3a_9b8c_7d6e5f4a3b2c.slice/cri-containerd-" + nginxID + ".scope",
			nginx, true},
		{"cgroupfs driver", "/kubepods/burstable/pod" + podUID + "/" + nginxID, nginx, true},
		{"the pod's sandbox (pause)", "/kubepods/burstable/pod" + podUID + "/5b1c0e7d9f3a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c", web, true},
		{"a container without kubelet's labels",
			"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod3c2b1a0f_9e8d_4c6b_8a4f_2e1d0c9b8a7f.slice/cri-containerd-" + corednsID + ".scope",
			Container{ID: corednsID, Name: "coredns", Pod: "coredns-5d78c9869d-tl2vq", Namespace: "kube-system", PodUID: "3c2b1a0f-9e8d-4c6b-8a4f-2e1d0c9b8a7f"}, true},
		{"a host service", "/system.slice/nginx.service", Container{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := r.Lookup(context.Background(), hostfs.ParseCgroup(tt.path))
			if err != nil || ok != tt.ok {
				t.Fatalf("Lookup: ok %v err %v, want ok %v", ok, err, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
	if got := nginx.String(); got != "shop/web-7d4b9c8f6-x2k9p/nginx" {
		t.Errorf("String() = %q", got)
	}
	// A sandbox is known by its ID: no listing for it after MinRefresh.
	r.now = func() time.Time { return time.Now().Add(time.Hour) }
	r.MaxAge = 2 * time.Hour
	if _, ok, _ := r.Lookup(context.Background(), hostfs.ParseCgroup(tests[2].path)); !ok {
		t.Error("the sandbox is not found later")
	}
	// Only the CRI's read-only list calls, once each: the rest were cached.
	want := []string{"/runtime.v1.RuntimeService/ListContainers", "/runtime.v1.RuntimeService/ListPodSandbox"}
	if diff := cmp.Diff(want, f.called()); diff != "" {
		t.Errorf("CRI calls (-want +got)\n%s", diff)
	}
}

// A container the runtime does not know is looked up again only after
// MinRefresh; everything is re-listed after MaxAge.
func TestResolverRefreshBounds(t *testing.T) {
	root, f := startRuntime(t)
	r := NewResolver(&CRI{Endpoint: filepath.Join(root, Endpoints[0])})
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	unknown := hostfs.ParseCgroup("/kubepods/besteffort/pod" + podUID + "/" + "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff")
	lists := func() int { return len(f.called()) / 2 }
	lookup := func() {
		if _, _, err := r.Lookup(context.Background(), unknown); err != nil {
			t.Fatal(err)
		}
	}
	lookup()
	lookup()
	if n := lists(); n != 1 {
		t.Errorf("two lookups of an unknown container at once listed %d times, want 1", n)
	}
	now = now.Add(DefaultMinRefresh)
	lookup()
	if n := lists(); n != 2 {
		t.Errorf("after MinRefresh: %d listings, want 2", n)
	}
	known := hostfs.ParseCgroup("/kubepods/burstable/pod" + podUID + "/" + nginxID)
	now = now.Add(time.Minute)
	if _, ok, _ := r.Lookup(context.Background(), known); !ok {
		t.Fatal("nginx not found")
	}
	if n := lists(); n != 2 {
		t.Errorf("a known container re-listed: %d listings, want 2", n)
	}
	now = now.Add(DefaultMaxAge)
	r.Lookup(context.Background(), known)
	if n := lists(); n != 3 {
		t.Errorf("after MaxAge: %d listings, want 3", n)
	}
}

// No runtime: Detect says so; a resolver on a dead socket reports the
// error and names nothing.
func TestNoRuntime(t *testing.T) {
	if _, err := Detect(t.TempDir()); err != ErrNoRuntime {
		t.Errorf("Detect on an empty root: %v, want ErrNoRuntime", err)
	}
	r := NewResolver(&CRI{Endpoint: filepath.Join(t.TempDir(), "absent.sock"), Timeout: time.Second})
	_, ok, err := r.Lookup(context.Background(), hostfs.ParseCgroup("/kubepods/burstable/pod"+podUID+"/"+nginxID))
	if ok || err == nil {
		t.Errorf("Lookup with no runtime: ok %v err %v, want an error", ok, err)
	}
}

func TestMain(m *testing.M) { nstest.Main(m, app.Main) }
