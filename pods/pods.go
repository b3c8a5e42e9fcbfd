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
	"strings"
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

// Endpoint is the CRI socket to ask: configured, as a path or as crictl
// writes it ("unix:///run/containerd/containerd.sock"), or when that is ""
// the first of Endpoints found on the host (Detect("/")).
func Endpoint(configured string) (string, error) {
	if configured == "" {
		return Detect("/")
	}
	p, ok := strings.CutPrefix(configured, "unix://")
	if !ok && strings.Contains(configured, "://") {
		return "", fmt.Errorf("container runtime endpoint %q: only unix:// sockets are supported", configured)
	}
	if fi, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("container runtime endpoint: %w", err)
	} else if fi.Mode()&os.ModeSocket == 0 {
		return "", fmt.Errorf("container runtime endpoint %s is not a socket", p)
	}
	return p, nil
}

// Resolver names processes' containers from their cgroups, listing the
// runtime's containers when it meets one it does not know, at most once
// per MinRefresh (a container that exited is not looked up again and
// again), and otherwise every MaxAge. Each container ID is resolved from
// the listing once, and answered from it until the next.
type Resolver struct {
	Source     Source
	MinRefresh time.Duration
	MaxAge     time.Duration
	// Background lists in a goroutine instead of in Lookup, which answers
	// from what it knows meanwhile: a container the running listing may
	// name is ErrPending until it is done (the exporter, whose scrapes must
	// not wait on the runtime).
	Background bool
	// now is time.Now; tests replace it.
	now func() time.Time

	mu         sync.Mutex
	byID       map[string]Container
	byPodUID   map[string]Container
	listed     time.Time
	err        error
	refreshing bool
	// done, when set, is called after each background listing (tests).
	done func()
}

// ErrPending is Lookup's error in the Background mode while a listing that
// may name the container is under way.
var ErrPending = errors.New("the container runtime is being asked")

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
	if age >= r.MaxAge || !exact && age >= r.MinRefresh {
		if r.Background {
			r.refreshBackground(now())
		} else {
			r.refresh(ctx, now())
			c, exact = r.find(cg)
		}
	}
	if r.refreshing && !exact {
		return c, false, ErrPending
	}
	return c, exact || c.Pod != "", r.err
}

// refreshBackground starts a listing unless one is running. r.mu is held.
func (r *Resolver) refreshBackground(now time.Time) {
	if r.refreshing {
		return
	}
	r.refreshing, r.listed = true, now
	go func() {
		containers, sandboxes, err := r.Source.List(context.Background())
		r.mu.Lock()
		r.install(containers, sandboxes, err)
		r.refreshing = false
		done := r.done
		r.mu.Unlock()
		if done != nil {
			done()
		}
	}()
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
	r.install(containers, sandboxes, err)
}

// install makes a listing the one Lookup answers from; a failed one keeps
// the last that worked, and its error. r.mu is held.
func (r *Resolver) install(containers, sandboxes []Container, err error) {
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
