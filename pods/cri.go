package pods

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The labels kubelet puts on every container and sandbox it asks the
// runtime to create (pkg/kubelet/types/labels.go).
const (
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
)

// CRI is a Source that asks a container runtime over its CRI socket.
type CRI struct {
	// Endpoint is the socket's path (Detect finds it).
	Endpoint string
	// Timeout bounds each listing (DefaultTimeout when 0): a snapshot must
	// not wait long on a stuck runtime.
	Timeout time.Duration
}

// DefaultTimeout bounds a listing: a healthy runtime answers in
// milliseconds, and a stuck one must not hold up a command for long.
const DefaultTimeout = time.Second

// List returns the runtime's containers and pod sandboxes, running or
// not: a listener may outlive nothing, but a process of an exited
// container can still hold sockets for a moment.
func (c *CRI) List(ctx context.Context) (containers, sandboxes []Container, err error) {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+c.Endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, errf(c.Endpoint, "connecting", err)
	}
	defer conn.Close()
	client := runtimeapi.NewRuntimeServiceClient(conn)
	cs, err := client.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		return nil, nil, errf(c.Endpoint, "ListContainers", err)
	}
	ps, err := client.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return nil, nil, errf(c.Endpoint, "ListPodSandbox", err)
	}
	pods := map[string]*runtimeapi.PodSandbox{}
	for _, p := range ps.GetItems() {
		pods[p.GetId()] = p
		sandboxes = append(sandboxes, sandbox(p))
	}
	for _, ct := range cs.GetContainers() {
		containers = append(containers, container(ct, pods[ct.GetPodSandboxId()]))
	}
	return containers, sandboxes, nil
}

// sandbox is a pod: its ID is the sandbox's, whose processes (pause)
// have that ID in their cgroup path.
func sandbox(p *runtimeapi.PodSandbox) Container {
	m := p.GetMetadata()
	c := Container{ID: p.GetId(), Pod: m.GetName(), Namespace: m.GetNamespace(), PodUID: m.GetUid()}
	fillFromLabels(&c, p.GetLabels())
	return c
}

// container names ct from kubelet's labels, falling back to its metadata
// and its sandbox's (a runtime that drops labels still has those).
func container(ct *runtimeapi.Container, p *runtimeapi.PodSandbox) Container {
	c := Container{ID: ct.GetId(), Name: ct.GetMetadata().GetName()}
	if p != nil {
		s := sandbox(p)
		c.Pod, c.Namespace, c.PodUID = s.Pod, s.Namespace, s.PodUID
		c.Name = ct.GetMetadata().GetName()
	}
	fillFromLabels(&c, ct.GetLabels())
	return c
}

func fillFromLabels(c *Container, labels map[string]string) {
	for key, field := range map[string]*string{labelPodName: &c.Pod, labelPodNamespace: &c.Namespace,
		labelPodUID: &c.PodUID, labelContainerName: &c.Name} {
		if v := labels[key]; v != "" {
			*field = v
		}
	}
}
