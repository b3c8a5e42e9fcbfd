package examples

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"

	"github.com/backlogctl/backlogctl/internal/cmd/app"
	"github.com/backlogctl/backlogctl/internal/nstest"
)

func TestMain(m *testing.M) { nstest.Main(m, app.Main) }

// fleetCommands are the shell commands of README's "Running on a fleet".
func fleetCommands(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## Running on a fleet\n")
	if !ok {
		t.Fatal(`README has no "## Running on a fleet" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, block, ok := strings.Cut(section, "```sh\n")
	if !ok {
		t.Fatal("the fleet section has no sh block")
	}
	block, _, _ = strings.Cut(block, "```")
	var cmds []string
	for _, line := range strings.Split(block, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			cmds = append(cmds, line)
		}
	}
	return cmds
}

// Every command README's "Running on a fleet" gives is checked here, offline:
// what it applies decodes into the API types (TestKubernetes*), what it
// names exists, the PrometheusRule it builds is valid, and its curl runs
// against a real exporter. A command this test does not know fails it.
func TestReadmeFleetSteps(t *testing.T) {
	if !nstest.Isolate(t) {
		return
	}
	m := loadManifests(t)
	applied := map[string]bool{}
	var configMapNS, configMapName string
	steps := []struct {
		re    *regexp.Regexp
		check func(t *testing.T, sub []string)
	}{
		{regexp.MustCompile(`^kubectl apply((?: -f examples/kubernetes/[a-z-]+\.yaml)+)$`), func(t *testing.T, sub []string) {
			for _, f := range strings.Fields(strings.ReplaceAll(sub[1], "-f ", "")) {
				if _, err := os.Stat("../" + f); err != nil {
					t.Errorf("%s: %v", f, err)
				}
				applied[strings.TrimPrefix(f, "examples/")] = true
			}
		}},
		{regexp.MustCompile(`^kubectl -n (\S+) rollout status daemonset/(\S+)$`), func(t *testing.T, sub []string) {
			ds := m.daemonSets["daemonset.yaml"]
			if !applied["kubernetes/daemonset.yaml"] || ds.Namespace != sub[1] || ds.Name != sub[2] {
				t.Errorf("rollout status of %s/%s, but the applied DaemonSet is %s/%s", sub[1], sub[2], ds.Namespace, ds.Name)
			}
		}},
		{regexp.MustCompile(`^(\{ printf .*; sed 's/\^/  /' examples/alerts\.yml; \}) \| kubectl apply -f -$`), func(t *testing.T, sub []string) {
			checkPrometheusRule(t, sub[1])
		}},
		{regexp.MustCompile(`^kubectl -n (\S+) create configmap (\S+) --from-file=(\S+)$`), func(t *testing.T, sub []string) {
			configMapNS, configMapName = sub[1], sub[2]
			info, err := os.Stat("../" + sub[3])
			if err != nil {
				t.Fatal(err)
			}
			// A ConfigMap holds at most 1 MiB.
			if info.Size() >= 1<<20 || sub[3] != "dashboard/backlogctl.json" {
				t.Errorf("%s (%d bytes): want the committed dashboard, under 1 MiB", sub[3], info.Size())
			}
		}},
		{regexp.MustCompile(`^kubectl -n (\S+) label configmap (\S+) grafana_dashboard=1$`), func(t *testing.T, sub []string) {
			if sub[1] != configMapNS || sub[2] != configMapName {
				t.Errorf("labels %s/%s, but created %s/%s", sub[1], sub[2], configMapNS, configMapName)
			}
		}},
		{regexp.MustCompile(`^kubectl -n backlogctl port-forward daemonset/backlogctl (\d+):(\d+) &$`), func(t *testing.T, sub []string) {
			args := containerArgs(m.daemonSets["daemonset.yaml"].Spec.Template.Spec.Containers[0])
			if !slices.Contains(args, "--web.listen-address=127.0.0.1:"+sub[2]) {
				t.Errorf("port-forward to %s, where a host-network pod's exporter must listen on loopback; args %v", sub[2], args)
			}
		}},
		{regexp.MustCompile(`^curl -s http://127\.0\.0\.1:9597/metrics \| grep '\^backlogctl_build_info'$`), func(t *testing.T, sub []string) {
			runCurlStep(t, sub[0])
		}},
	}
	cmds := fleetCommands(t)
	if len(cmds) < 8 {
		t.Fatalf("%d commands in the fleet section, want the whole walk-through", len(cmds))
	}
next:
	for _, c := range cmds {
		for _, s := range steps {
			if sub := s.re.FindStringSubmatch(c); sub != nil {
				s.check(t, sub)
				continue next
			}
		}
		t.Errorf("README step %q is not checked by this test", c)
	}
	for _, f := range []string{"kubernetes/namespace.yaml", "kubernetes/daemonset.yaml", "kubernetes/service.yaml", "kubernetes/servicemonitor.yaml"} {
		if !applied[f] {
			t.Errorf("the walk-through never applies %s", f)
		}
	}
}

// checkPrometheusRule runs the command that builds the PrometheusRule and
// decodes its output strictly into prometheus-operator's type: every alert
// of examples/alerts.yml is in it.
func checkPrometheusRule(t *testing.T, build string) {
	t.Helper()
	cmd := exec.Command("sh", "-c", build)
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", build, err)
	}
	js, err := yaml.YAMLToJSON(out)
	if err != nil {
		t.Fatalf("the PrometheusRule is not YAML: %v\n%s", err, out)
	}
	var rule monitoringv1.PrometheusRule
	if err := strictDecode(js, &rule); err != nil {
		t.Fatalf("the PrometheusRule does not match its API: %v", err)
	}
	alerts, _ := os.ReadFile("alerts.yml")
	want := strings.Count(string(alerts), "- alert: ")
	got := 0
	for _, g := range rule.Spec.Groups {
		got += len(g.Rules)
	}
	if got != want || want == 0 || rule.Namespace != "backlogctl" {
		t.Errorf("PrometheusRule %s/%s has %d rules, alerts.yml %d", rule.Namespace, rule.Name, got, want)
	}
}

// runCurlStep runs the README's curl against a real exporter on the test
// namespace's 127.0.0.1:9597 (as port-forward makes it reachable).
func runCurlStep(t *testing.T, line string) {
	t.Helper()
	exp := nstest.CLICommand("exporter", "--web.listen-address=127.0.0.1:9597")
	if err := exp.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { exp.Process.Kill(); exp.Wait() }()
	nstest.Eventually(t, 30*time.Second, "the exporter to serve", func() bool {
		resp, err := http.Get("http://127.0.0.1:9597/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	out, err := exec.Command("sh", "-c", line).Output()
	if err != nil || !bytes.HasPrefix(out, []byte("backlogctl_build_info{")) {
		t.Errorf("%s: %v, printed %q", line, err, out)
	}
}
