package collect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/pods"
)

// podNamer names the containers and Kubernetes pods listener owners run
// in: the container ID and pod UID from each owner's cgroup (hostfs's one
// cgroup reader), the names from the node's container runtime
// (pods.Resolver, over its CRI socket), which is asked only about a
// process in a pod, and lists at most once for every container ID it has
// not seen (pods.DefaultMinRefresh apart). A nil podNamer names nothing.
// Safe for concurrent use.
type podNamer struct {
	roots hostfs.Roots
	// background: the runtime is listed in a goroutine, and a process whose
	// pod it may name is pending meanwhile (repeated snapshots: the
	// exporter's scrapes must not wait on it).
	background bool

	once     sync.Once
	resolver *pods.Resolver // nil: no runtime socket to ask
	absent   error          // why there is none

	mu     sync.Mutex
	warned []string // every warning given, each once
	fresh  []string // those not yet taken
}

func newPodNamer(roots hostfs.Roots, background bool) *podNamer {
	return &podNamer{roots: roots, background: background}
}

// PodsUnnamed begins the warning that the container runtime could not name
// the pods (each distinct one is given once in a Collector's life).
const PodsUnnamed = "pods are shown by UID, not by name"

// workload is where pid runs: its container and pod, with their names when
// the runtime could give them. pending is set, in the background mode,
// while the runtime is being asked about its pod.
func (n *podNamer) workload(pid int) (w model.Workload, pending bool) {
	if n == nil {
		return w, false
	}
	cg, err := n.roots.Cgroup(pid)
	if err != nil || cg.ContainerID == "" && cg.PodUID == "" {
		return w, false
	}
	w.ContainerID, w.PodUID = cg.ContainerID, cg.PodUID
	if cg.PodUID == "" {
		return w, false // a container outside Kubernetes: no pod to name
	}
	r := n.runtime()
	if r == nil {
		n.warn(fmt.Sprintf("%s: %v (mount the node's socket, or name it in %s)", PodsUnnamed, n.absent, hostfs.EnvRuntimeEndpoint))
		return w, false
	}
	c, ok, err := r.Lookup(context.Background(), cg)
	if errors.Is(err, pods.ErrPending) {
		return w, true
	}
	if err != nil {
		n.warn(fmt.Sprintf("%s where the runtime could not be asked: %v", PodsUnnamed, err))
	}
	if ok {
		w.Pod, w.Namespace, w.Container = c.Pod, c.Namespace, c.Name
		if c.ID != "" {
			w.ContainerID = c.ID
		}
	}
	return w, false
}

// runtime is the resolver over the runtime's socket, found the first time
// a pod is met; nil when there is none.
func (n *podNamer) runtime() *pods.Resolver {
	n.once.Do(func() {
		endpoint, err := pods.Endpoint(n.roots.Runtime)
		if err != nil {
			n.absent = err
			return
		}
		n.resolver = pods.NewResolver(&pods.CRI{Endpoint: endpoint})
		n.resolver.Background = n.background
	})
	return n.resolver
}

// warn records a warning, once in the namer's life.
func (n *podNamer) warn(s string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !slices.Contains(n.warned, s) {
		n.warned = append(n.warned, s)
		n.fresh = append(n.fresh, s)
	}
}

// take returns the warnings not yet taken.
func (n *podNamer) take() []string {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	out := n.fresh
	n.fresh = nil
	return out
}

// podNamer is the namer o asks for, for one snapshot (nil: none).
func (o Options) podNamer() *podNamer {
	if !o.Pods {
		return nil
	}
	return newPodNamer(o.Roots.WithDefaults(), false)
}
