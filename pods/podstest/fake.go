// Package podstest gives tests a container runtime: a fake one that serves
// recorded CRI responses on a Unix socket, as containerd does, and the real
// containerd from Debian's packages, running pods as kubelet would ask it
// to. Only tests import it.
package podstest

import (
	"context"
	_ "embed"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Recorded is testdata/containerd.json: ListPodSandbox and ListContainers
// as containerd answers them on a node running two pods, shop/web (its
// container nginx) and kube-system/coredns (a container without kubelet's
// labels, as some runtimes list them).
//
//go:embed testdata/containerd.json
var Recorded []byte

// IDs and names in Recorded.
const (
	WebPodUID    = "0f9a8b7c-1d2e-4f3a-9b8c-7d6e5f4a3b2c"
	WebPod       = "web-7d4b9c8f6-x2k9p"
	NginxID      = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	CorednsID    = "c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2"
	CorednsUID   = "3c2b1a0f-9e8d-4c6b-8a4f-2e1d0c9b8a7f"
	WebSandboxID = "5b1c0e7d9f3a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c"
)

// Fake serves a recording over the CRI and records every method called.
type Fake struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	// Socket is where it listens.
	Socket     string
	containers *runtimeapi.ListContainersResponse
	sandboxes  *runtimeapi.ListPodSandboxResponse

	mu    sync.Mutex
	calls []string
	gate  chan struct{}
}

// Serve serves recording (Recorded's shape) on the Unix socket at sock,
// making its directory, until the test ends.
func Serve(t testing.TB, sock string, recording []byte) *Fake {
	t.Helper()
	var rec struct{ Sandboxes, Containers json.RawMessage }
	if err := json.Unmarshal(recording, &rec); err != nil {
		t.Fatal(err)
	}
	f := &Fake{Socket: sock, containers: &runtimeapi.ListContainersResponse{}, sandboxes: &runtimeapi.ListPodSandboxResponse{}}
	if err := protojson.Unmarshal(rec.Containers, f.containers); err != nil {
		t.Fatal(err)
	}
	if err := protojson.Unmarshal(rec.Sandboxes, f.sandboxes); err != nil {
		t.Fatal(err)
	}
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
	return f
}

// Hold makes every ListContainers wait until the returned func is called
// (or its caller gives up): a stuck runtime.
func (f *Fake) Hold() (release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gate = make(chan struct{})
	gate := f.gate
	var once sync.Once
	return func() { once.Do(func() { close(gate) }) }
}

// Calls are the CRI methods called so far, in order.
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *Fake) ListContainers(ctx context.Context, _ *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return f.containers, nil
}

func (f *Fake) ListPodSandbox(context.Context, *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	return f.sandboxes, nil
}
