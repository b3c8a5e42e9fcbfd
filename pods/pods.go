// Package pods names the Kubernetes pods and containers that processes run
// in. hostfs's cgroup parser gives a process's container ID and pod UID;
// the node's container runtime, through its CRI socket (containerd, CRI-O
// or cri-dockerd), gives the pod's name and namespace and the container's
// name. Only the CRI's read-only list calls are made (ListContainers,
// ListPodSandbox).
package pods

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/backlogctl/backlogctl/hostfs"
)

// Container is what a process's container is called in Kubernetes.
type Container struct {
	// ID is the runtime's full container ID ("" for a pod-level process).
	ID string `json:"container_id,omitempty"`
	// Name is the container's name in its pod spec.
	Name      string `json:"container,omitempty"`
	Pod       string `json:"pod"`
	Namespace string `json:"namespace"`
	PodUID    string `json:"pod_uid"`
}

// Source lists the containers and the pods (their sandboxes, ID the
// sandbox's) a node runs.
type Source interface {
	List(ctx context.Context) ([]Container, []Container, error)
}

// Endpoints are the CRI sockets of containerd, CRI-O and cri-dockerd
// (Docker Engine behind kubelet), relative to the host's root, in the order
// they are tried.
var Endpoints = []string{
	"run/containerd/containerd.sock",
	"run/crio/crio.sock",
	"run/cri-dockerd.sock",
	"var/run/containerd/containerd.sock",
	"var/run/crio/crio.sock",
	"var/run/cri-dockerd.sock",
}

// ErrNoRuntime is Detect's error when no CRI socket exists: not a
// Kubernetes node, or the socket is not mounted into the container.
var ErrNoRuntime = errors.New("no container runtime socket (containerd, CRI-O or cri-dockerd)")

// Detect returns the first CRI socket in Endpoints under root ("/" on the
// host; a DaemonSet mounts the node's sockets where it likes).
func Detect(root string) (string, error) {
	for _, e := range Endpoints {
		p := filepath.Join(root, e)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return p, nil
		}
	}
	return "", ErrNoRuntime
}

// Resolver names processes' containers from their cgroups, listing the
// runtime's containers when it meets one it does not know, at most once
// per MinRefresh (a container that exited is not looked up again and
// again), and otherwise every MaxAge.
type Resolver struct {
	Source     Source
	MinRefresh time.Duration
	MaxAge     time.Duration
	// now is time.Now; tests replace it.
	now func() time.Time

	mu       sync.Mutex
	byID     map[string]Container
	byPodUID map[string]Container
	listed   time.Time
	err      error
}

// Defaults for Resolver's refresh bounds.
const (
	DefaultMinRefresh = 5 * time.Second
	DefaultMaxAge     = 5 * time.Minute
)

// NewResolver returns a Resolver over src with the default bounds.
func NewResolver(src Source) *Resolver {
	return &Resolver{Source: src, MinRefresh: DefaultMinRefresh, MaxAge: DefaultMaxAge}
}

// Lookup names the container of a process in cgroup cg. ok is false when
// cg shows no pod, or the runtime does not know it; err is the last
// listing's error (the runtime unreachable), reported once per listing.
func (r *Resolver) Lookup(ctx context.Context, cg hostfs.Cgroup) (c Container, ok bool, err error) {
	if cg.ContainerID == "" && cg.PodUID == "" {
		return Container{}, false, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now
	if r.now != nil {
		now = r.now
	}
	c, exact := r.find(cg)
	age := now().Sub(r.listed)
	if r.byID == nil || age >= r.MaxAge || !exact && age >= r.MinRefresh {
		r.refresh(ctx, now())
		c, exact = r.find(cg)
	}
	return c, exact || c.Pod != "", r.err
}

// find names cg's container; exact is false when only its pod is known
// (a container started since the last listing, or a pod's sandbox).
func (r *Resolver) find(cg hostfs.Cgroup) (c Container, exact bool) {
	if c, ok := r.byID[cg.ContainerID]; ok && cg.ContainerID != "" {
		return c, true
	}
	// A pod's own processes (its sandbox), or a runtime that shows only the
	// pod in the cgroup path.
	if c, ok := r.byPodUID[cg.PodUID]; ok && cg.PodUID != "" {
		return Container{Pod: c.Pod, Namespace: c.Namespace, PodUID: c.PodUID}, false
	}
	return Container{}, false
}

func (r *Resolver) refresh(ctx context.Context, now time.Time) {
	r.listed = now
	containers, sandboxes, err := r.Source.List(ctx)
	if err != nil {
		r.err = err
		return
	}
	r.err = nil
	r.byID = make(map[string]Container, len(containers))
	r.byPodUID = make(map[string]Container, len(sandboxes))
	for _, s := range sandboxes {
		pod := Container{Pod: s.Pod, Namespace: s.Namespace, PodUID: s.PodUID}
		r.byPodUID[s.PodUID] = pod
		if s.ID != "" {
			r.byID[s.ID] = pod // the sandbox's own processes
		}
	}
	for _, c := range containers {
		r.byID[c.ID] = c
		if _, ok := r.byPodUID[c.PodUID]; !ok && c.PodUID != "" {
			r.byPodUID[c.PodUID] = c
		}
	}
}

// String is "namespace/pod/container" (without the container for a
// pod-level process), as the tables show it.
func (c Container) String() string {
	s := c.Namespace + "/" + c.Pod
	if c.Name != "" {
		s += "/" + c.Name
	}
	return s
}

// errf wraps a CRI call's error with what was asked of whom.
func errf(endpoint, call string, err error) error {
	return fmt.Errorf("asking the container runtime at %s (%s): %w", endpoint, call, err)
}
