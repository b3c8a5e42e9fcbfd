package metrics

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// examples/daemonset.yaml is a valid apps/v1 DaemonSet by the Kubernetes
// API's own Go types, decoded strictly (an unknown or misspelt field is an
// error), and grants trace exactly what it was measured to need: BPF and
// PERFMON added to the exporter's set, never privileged.
func TestExampleDaemonSet(t *testing.T) {
	raw, err := os.ReadFile("../examples/daemonset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatalf("examples/daemonset.yaml is not YAML: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var ds appsv1.DaemonSet
	if err := dec.Decode(&ds); err != nil {
		t.Fatalf("examples/daemonset.yaml does not match the Kubernetes API: %v", err)
	}
	if ds.APIVersion != "apps/v1" || ds.Kind != "DaemonSet" {
		t.Errorf("apiVersion %q kind %q", ds.APIVersion, ds.Kind)
	}
	if sel := ds.Spec.Selector.MatchLabels; len(sel) == 0 || !subset(sel, ds.Spec.Template.Labels) {
		t.Errorf("selector %v does not select the template's labels %v", sel, ds.Spec.Template.Labels)
	}
	if len(ds.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(ds.Spec.Template.Spec.Containers))
	}
	c := ds.Spec.Template.Spec.Containers[0]
	if !slices.Contains(c.Args, "--trace") || c.Args[0] != "exporter" {
		t.Errorf("args %v, want exporter --trace", c.Args)
	}
	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil {
		t.Fatal("no securityContext capabilities")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("privileged: true; trace needs only BPF and PERFMON")
	}
	if !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("drop %v, want [ALL]", sc.Capabilities.Drop)
	}
	want := []corev1.Capability{"BPF", "DAC_READ_SEARCH", "PERFMON", "SYS_ADMIN", "SYS_PTRACE"}
	got := slices.Sorted(slices.Values(sc.Capabilities.Add))
	if !slices.Equal(got, want) {
		t.Errorf("capabilities added %v, want %v", got, want)
	}
}

func subset(a, b map[string]string) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
