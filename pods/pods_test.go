package pods

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/pods/podstest"
)

// startRuntime serves podstest.Recorded at DIR/run/containerd/containerd.sock.
func startRuntime(t *testing.T) (root string, f *podstest.Fake) {
	t.Helper()
	root = t.TempDir()
	return root, podstest.Serve(t, filepath.Join(root, "run/containerd/containerd.sock"), podstest.Recorded)
}

const (
	podUID    = podstest.WebPodUID
	nginxID   = podstest.NginxID
	corednsID = podstest.CorednsID
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
	if diff := cmp.Diff(want, f.Calls()); diff != "" {
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
	lists := func() int { return len(f.Calls()) / 2 }
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

// In the Background mode a lookup never waits for the runtime: a container
// it does not know yet is ErrPending while the listing runs (here held up
// until the test lets it go: a lookup that waited would never return), and
// named once it is done.
func TestResolverBackground(t *testing.T) {
	root, f := startRuntime(t)
	release := f.Hold()
	r := NewResolver(&CRI{Endpoint: filepath.Join(root, Endpoints[0])})
	r.Background = true
	listed := make(chan struct{}, 1)
	r.done = func() { listed <- struct{}{} }
	cg := hostfs.ParseCgroup("/kubepods/burstable/pod" + podUID + "/" + nginxID)
	for range 2 {
		if _, ok, err := r.Lookup(context.Background(), cg); ok || !errors.Is(err, ErrPending) {
			t.Fatalf("Lookup during the listing: ok %v err %v, want ErrPending", ok, err)
		}
	}
	release()
	<-listed
	got, ok, err := r.Lookup(context.Background(), cg)
	if !ok || err != nil || got.String() != "shop/web-7d4b9c8f6-x2k9p/nginx" {
		t.Errorf("Lookup after the listing: %+v ok %v err %v", got, ok, err)
	}
	if n := len(f.Calls()); n != 2 {
		t.Errorf("%d CRI calls, want one listing (2): lookups during it start no other", n)
	}
}

// A runtime that does not answer costs a synchronous lookup its Timeout,
// and an error, not a hang.
func TestResolverStuckRuntime(t *testing.T) {
	root, f := startRuntime(t)
	defer f.Hold()()
	r := NewResolver(&CRI{Endpoint: filepath.Join(root, Endpoints[0]), Timeout: 100 * time.Millisecond})
	_, ok, err := r.Lookup(context.Background(), hostfs.ParseCgroup("/kubepods/burstable/pod"+podUID+"/"+nginxID))
	if ok || !errors.Is(err, context.DeadlineExceeded) && status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("Lookup on a stuck runtime: ok %v err %v, want a deadline error", ok, err)
	}
}

// Endpoint takes a path or crictl's unix:// form, and says what is wrong
// with anything else.
func TestEndpoint(t *testing.T) {
	root, _ := startRuntime(t)
	sock := filepath.Join(root, Endpoints[0])
	for _, in := range []string{sock, "unix://" + sock} {
		if got, err := Endpoint(in); err != nil || got != sock {
			t.Errorf("Endpoint(%q) = %q, %v; want %q", in, got, err, sock)
		}
	}
	for _, in := range []string{"tcp://127.0.0.1:1234", filepath.Join(root, "absent.sock"), root} {
		if _, err := Endpoint(in); err == nil {
			t.Errorf("Endpoint(%q): no error", in)
		}
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
