package metrics

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// promtool runs Debian's promtool on a file of examples/; without it the
// test skips locally and fails under CI, where scripts/test.sh installs it.
func promtool(t *testing.T, args ...string) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found: scripts/test.sh installs Debian's prometheus package")
		}
		t.Skip("promtool not found (apt-get install prometheus)")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = "../examples"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool %v: %v\n%s", args, err, out)
	}
}

func TestExampleAlertRules(t *testing.T) {
	promtool(t, "check", "rules", "alerts.yml")
	// Each alert fires on the series it is meant for (examples/alerts_test.yml).
	promtool(t, "test", "rules", "alerts_test.yml")
}

func TestExampleScrapeConfig(t *testing.T) {
	promtool(t, "check", "config", "scrape-config.yml")
}

// The rules name only metrics the collector exports.
func TestExampleRulesUseExportedMetrics(t *testing.T) {
	rules, err := os.ReadFile("../examples/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	ch := make(chan *prometheus.Desc, 64)
	go func() { (&Collector{}).Describe(ch); close(ch) }()
	name := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		exported[name.FindStringSubmatch(d.String())[1]] = true
	}
	used := regexp.MustCompile(`backlogctl_[a-z_]+`).FindAllString(string(rules), -1)
	if len(used) == 0 {
		t.Fatal("no backlogctl_ metric in examples/alerts.yml")
	}
	for _, m := range used {
		// A histogram's series: NAME_bucket, NAME_count, NAME_sum.
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if base, ok := strings.CutSuffix(m, suffix); ok && exported[base] {
				m = base
			}
		}
		if !exported[m] {
			t.Errorf("examples/alerts.yml uses %s, which the collector does not export", m)
		}
	}
}
