package examples

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/backlogctl/backlogctl/internal/cmd/exporter"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/ociimage"
	"github.com/backlogctl/backlogctl/pods"
)

// manifests are examples/kubernetes/*.yaml, decoded strictly (an unknown or
// misspelt field is an error) into the Go types of the Kubernetes API and
// of prometheus-operator, by kind.
type manifests struct {
	daemonSets      map[string]*appsv1.DaemonSet // by file
	services        []*corev1.Service
	serviceMonitors []*monitoringv1.ServiceMonitor
	namespaces      []*corev1.Namespace
}

func strictDecode(js []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}

func loadManifests(t *testing.T) manifests {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples/kubernetes/*.yaml: %v", err)
	}
	m := manifests{daemonSets: map[string]*appsv1.DaemonSet{}}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(raw, []byte("\n---\n")) {
			js, err := yaml.YAMLToJSON(doc)
			if err != nil {
				t.Fatalf("%s document %d is not YAML: %v", f, i, err)
			}
			var meta struct{ APIVersion, Kind string }
			if err := json.Unmarshal(js, &meta); err != nil {
				t.Fatal(err)
			}
			var into any
			switch meta.APIVersion + " " + meta.Kind {
			case "apps/v1 DaemonSet":
				ds := &appsv1.DaemonSet{}
				m.daemonSets[filepath.Base(f)], into = ds, ds
			case "v1 Service":
				s := &corev1.Service{}
				m.services, into = append(m.services, s), s
			case "monitoring.coreos.com/v1 ServiceMonitor":
				s := &monitoringv1.ServiceMonitor{}
				m.serviceMonitors, into = append(m.serviceMonitors, s), s
			case "v1 Namespace":
				n := &corev1.Namespace{}
				m.namespaces, into = append(m.namespaces, n), n
			default:
				t.Fatalf("%s: %s %s is not a kind this test knows", f, meta.APIVersion, meta.Kind)
			}
			if err := strictDecode(js, into); err != nil {
				t.Errorf("%s does not match the %s API: %v", f, meta.Kind, err)
			}
		}
	}
	return m
}

func subset(a, b map[string]string) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return len(a) > 0
}

// The manifests fit together: one namespace, the Service selects the
// DaemonSets' pods and names their port, the ServiceMonitor selects the
// Service, its port and namespace.
func TestKubernetesManifestsFit(t *testing.T) {
	m := loadManifests(t)
	if len(m.namespaces) != 1 || len(m.services) != 1 || len(m.serviceMonitors) != 1 || len(m.daemonSets) != 2 {
		t.Fatalf("%d namespaces, %d services, %d service monitors, %d daemon sets: want 1, 1, 1, 2",
			len(m.namespaces), len(m.services), len(m.serviceMonitors), len(m.daemonSets))
	}
	ns := m.namespaces[0].Name
	svc, sm := m.services[0], m.serviceMonitors[0]
	for f, ds := range m.daemonSets {
		if ds.Namespace != ns {
			t.Errorf("%s: namespace %q, want %q", f, ds.Namespace, ns)
		}
		if !subset(ds.Spec.Selector.MatchLabels, ds.Spec.Template.Labels) {
			t.Errorf("%s: selector %v does not select the template's labels %v", f, ds.Spec.Selector.MatchLabels, ds.Spec.Template.Labels)
		}
		if !subset(svc.Spec.Selector, ds.Spec.Template.Labels) {
			t.Errorf("the Service's selector %v does not select %s's pods %v", svc.Spec.Selector, f, ds.Spec.Template.Labels)
		}
		c := ds.Spec.Template.Spec.Containers[0]
		if len(c.Ports) != 1 || c.Ports[0].Name != svc.Spec.Ports[0].TargetPort.String() {
			t.Errorf("%s: container ports %v, the Service targets %q", f, c.Ports, svc.Spec.Ports[0].TargetPort.String())
		}
	}
	if svc.Namespace != ns || sm.Namespace != ns {
		t.Errorf("Service in %q, ServiceMonitor in %q, want %q", svc.Namespace, sm.Namespace, ns)
	}
	if !subset(sm.Spec.Selector.MatchLabels, svc.Labels) {
		t.Errorf("the ServiceMonitor's selector %v does not select the Service's labels %v", sm.Spec.Selector.MatchLabels, svc.Labels)
	}
	if !slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{ns}) {
		t.Errorf("ServiceMonitor namespaces %v, want [%s]", sm.Spec.NamespaceSelector.MatchNames, ns)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name {
		t.Errorf("ServiceMonitor endpoints %v, want the Service's port %q", sm.Spec.Endpoints, svc.Spec.Ports[0].Name)
	}
	// The alerts and the dashboard select job="backlogctl": the job is the
	// value of the Service label jobLabel names.
	if got := svc.Labels[sm.Spec.JobLabel]; got != "backlogctl" {
		t.Errorf("job label: the Service's %q is %q, want backlogctl", sm.Spec.JobLabel, got)
	}
	relabelsNode := slices.ContainsFunc(sm.Spec.Endpoints[0].RelabelConfigs, func(r monitoringv1.RelabelConfig) bool {
		return r.TargetLabel == "node" && slices.Contains(r.SourceLabels, "__meta_kubernetes_pod_node_name")
	})
	if !relabelsNode {
		t.Error("the ServiceMonitor does not label series with the node's name (node)")
	}
	// The operator's own pod, namespace and container target labels would
	// push the series' aside (exported_pod) and label the node's listeners
	// with the exporter's pod: they are dropped.
	dropsTargetPod := slices.ContainsFunc(sm.Spec.Endpoints[0].RelabelConfigs, func(r monitoringv1.RelabelConfig) bool {
		re := regexp.MustCompile("^(?:" + string(r.Regex) + ")$")
		return r.Action == "labeldrop" && re.MatchString("pod") && re.MatchString("namespace") && re.MatchString("container") && !re.MatchString("node")
	})
	if !dropsTargetPod {
		t.Error("the ServiceMonitor keeps the operator's pod, namespace and container target labels, which clash with the series'")
	}
}

// imageRef finds image references with a version-like tag (VERSION, a
// placeholder, is not one).
var imageRef = regexp.MustCompile(`\b[a-z0-9.-]+(/[a-z0-9._-]+)+:v?[0-9][A-Za-z0-9._-]*\b`)

// Every image examples/ refers to is the release's image, by its name and
// a version tag (never :latest, never untagged), the same everywhere.
func TestExamplesReferenceTheReleaseImage(t *testing.T) {
	m := loadManifests(t)
	tag := regexp.MustCompile(`^` + regexp.QuoteMeta(ociimage.Name) + `:v?[0-9]+\.[0-9]+\.[0-9]+$`)
	seen := map[string]bool{}
	for f, ds := range m.daemonSets {
		for _, c := range append(ds.Spec.Template.Spec.InitContainers, ds.Spec.Template.Spec.Containers...) {
			if !tag.MatchString(c.Image) {
				t.Errorf("%s: image %q, want %s:VERSION", f, c.Image, ociimage.Name)
			}
			seen[c.Image] = true
		}
	}
	// Anything that looks like an image anywhere in examples/ or the README
	// is that same reference.
	for _, f := range []string{"kubernetes/*.yaml", "*.yml", "*.yaml", "../README.md"} {
		paths, _ := filepath.Glob(f)
		for _, p := range paths {
			raw, _ := os.ReadFile(p)
			for _, ref := range imageRef.FindAllString(string(raw), -1) {
				if strings.HasPrefix(ref, ociimage.Name+":") {
					seen[ref] = true
				}
			}
			if strings.Contains(string(raw), ociimage.Name+":latest") || strings.Contains(string(raw), "backlogctl:latest") {
				t.Errorf("%s refers to a :latest image", p)
			}
		}
	}
	if len(seen) != 1 {
		t.Errorf("examples and README refer to %d image references %v, want one", len(seen), slices.Sorted(mapsKeys(seen)))
	}
}

func mapsKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// containerArgs expands $(VAR) from the container's env as the kubelet does
// (a fieldRef becomes a sample value).
func containerArgs(c corev1.Container) []string {
	vals := map[string]string{}
	for _, e := range c.Env {
		vals[e.Name] = e.Value
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.podIP" {
			vals[e.Name] = "10.0.0.7"
		}
	}
	var out []string
	for _, a := range c.Args {
		for k, v := range vals {
			a = strings.ReplaceAll(a, "$("+k+")", v)
		}
		out = append(out, a)
	}
	return out
}

// Each DaemonSet's arguments are accepted by the exporter command itself.
func exporterAccepts(t *testing.T, args []string) {
	t.Helper()
	if len(args) == 0 || args[0] != "exporter" {
		t.Fatalf("args %v do not run the exporter", args)
	}
	ios, _, _, _ := iostreams.Test()
	cmd := exporter.NewCmdExporter(&cmdutil.Factory{IOStreams: ios}, func(context.Context, *exporter.Options) error { return nil })
	cmd.SetArgs(args[1:])
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	if err := cmd.Execute(); err != nil {
		t.Errorf("backlogctl %s: %v", strings.Join(args, " "), err)
	}
}

// The full DaemonSet: sees every namespace and traces, with exactly the
// capabilities that takes (never privileged), no service account token,
// the runtime's seccomp profile, and says what SYS_ADMIN with hostPID is.
func TestFullDaemonSet(t *testing.T) {
	spec, c, args := daemonSet(t, "daemonset.yaml")
	for _, want := range []string{"--all-netns", "--trace"} {
		if !slices.Contains(args, want) {
			t.Errorf("args %v lack %s", args, want)
		}
	}
	if !spec.HostNetwork || !spec.HostPID {
		t.Error("the full variant needs hostNetwork and hostPID")
	}
	checkPodHardening(t, spec)
	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil {
		t.Fatal("no securityContext capabilities")
	}
	if !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("drop %v, want [ALL]", sc.Capabilities.Drop)
	}
	want := []corev1.Capability{"BPF", "DAC_READ_SEARCH", "PERFMON", "SYS_ADMIN", "SYS_PTRACE"}
	if got := slices.Sorted(slices.Values(sc.Capabilities.Add)); !slices.Equal(got, want) {
		t.Errorf("capabilities added %v, want %v", got, want)
	}
	if sc.RunAsUser == nil || *sc.RunAsUser != 0 {
		t.Error("the full variant must run as root explicitly: the image's default user is nobody")
	}
	raw, _ := os.ReadFile("kubernetes/daemonset.yaml")
	if !strings.Contains(string(raw), "SYS_ADMIN with hostPID") || !strings.Contains(string(raw), "root on the node") {
		t.Error("daemonset.yaml does not say that SYS_ADMIN with hostPID is root on the node")
	}
	// The runtime's CRI socket, read-only, where backlogctl looks for it.
	socket := criSocket(t, spec, c)
	if socket == nil {
		t.Fatal("the full variant does not mount the container runtime's CRI socket")
	}
	if !socket.ReadOnly || !slices.Contains(pods.Endpoints, strings.TrimPrefix(socket.MountPath, "/")) {
		t.Errorf("CRI socket mounted at %s (read-only %v), want read-only at one of %v", socket.MountPath, socket.ReadOnly, pods.Endpoints)
	}
	if !strings.Contains(string(raw), "the CRI runs containers for whoever") {
		t.Error("daemonset.yaml does not say what the CRI socket amounts to")
	}
}

// criSocket is c's mount of a hostPath Socket volume, if any.
func criSocket(t *testing.T, spec corev1.PodSpec, c corev1.Container) *corev1.VolumeMount {
	t.Helper()
	for _, v := range spec.Volumes {
		if v.HostPath == nil || v.HostPath.Type == nil || *v.HostPath.Type != corev1.HostPathSocket {
			continue
		}
		for i, m := range c.VolumeMounts {
			if m.Name == v.Name {
				if m.MountPath != v.HostPath.Path {
					t.Errorf("the CRI socket %s is mounted at %s: mount it where the node has it", v.HostPath.Path, m.MountPath)
				}
				return &c.VolumeMounts[i]
			}
		}
	}
	return nil
}

// The reduced DaemonSet: no --trace or --all-netns, no capability, not
// root, no host PID namespace.
func TestReducedDaemonSet(t *testing.T) {
	spec, c, args := daemonSet(t, "daemonset-reduced.yaml")
	for _, bad := range []string{"--all-netns", "--trace", "--netns"} {
		if slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, bad) }) {
			t.Errorf("reduced args %v have %s", args, bad)
		}
	}
	if spec.HostPID {
		t.Error("the reduced variant has hostPID")
	}
	checkPodHardening(t, spec)
	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil || len(sc.Capabilities.Add) != 0 || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("reduced capabilities %+v, want every one dropped and none added", sc)
	}
	psc := spec.SecurityContext
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Error("the reduced variant must run as a non-root user")
	}
	if criSocket(t, spec, c) != nil {
		t.Error("the reduced variant mounts the CRI socket: root's, and with --no-processes it names nothing")
	}
}

// daemonSet is examples/kubernetes/FILE's pod spec, its container and the
// container's arguments, which the exporter must accept.
func daemonSet(t *testing.T, file string) (corev1.PodSpec, corev1.Container, []string) {
	t.Helper()
	ds := loadManifests(t).daemonSets[file]
	if ds == nil {
		t.Fatalf("no examples/kubernetes/%s", file)
	}
	spec := ds.Spec.Template.Spec
	c := spec.Containers[0]
	args := containerArgs(c)
	exporterAccepts(t, args)
	return spec, c, args
}

func checkPodHardening(t *testing.T, spec corev1.PodSpec) {
	t.Helper()
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken is not false: the exporter reads no Kubernetes API")
	}
	if spec.SecurityContext == nil || spec.SecurityContext.SeccompProfile == nil ||
		spec.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("no pod seccompProfile RuntimeDefault")
	}
	c := spec.Containers[0]
	sc := c.SecurityContext
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("privileged: true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem is not true")
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Error("no /healthz liveness probe")
	}
	if c.Resources.Limits.Memory().IsZero() {
		t.Error("no memory limit")
	}
}
