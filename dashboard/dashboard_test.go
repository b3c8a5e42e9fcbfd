package dashboard

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

var update = flag.Bool("update", false, "rewrite backlogctl.json from the code")

const committed = "backlogctl.json"

// backlogctl.json is what the code builds: regenerate it with
// `go test ./dashboard -run TestDashboardFresh -args -update`.
func TestDashboardFresh(t *testing.T) {
	got, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(committed, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run go test ./dashboard -run TestDashboardFresh -args -update", committed)
	}
}

// target is one panel's query, as Grafana will run it.
type target struct {
	Panel, Type, Unit, Expr, Format, Legend string
	Instant                                 bool
}

// targets walks the committed JSON (not the code), panel by panel.
func targets(t *testing.T) []target {
	t.Helper()
	raw, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Type, Title string
			FieldConfig struct {
				Defaults struct {
					Unit string `json:"unit"`
				} `json:"defaults"`
			} `json:"fieldConfig"`
			Targets []struct {
				Expr    string `json:"expr"`
				Format  string `json:"format"`
				Legend  string `json:"legendFormat"`
				Instant bool   `json:"instant"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	var out []target
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			out = append(out, target{p.Title, p.Type, p.FieldConfig.Defaults.Unit, q.Expr, q.Format, q.Legend, q.Instant})
		}
	}
	return out
}

// The committed JSON is a dashboard Grafana's own schema types read back,
// with the variables and panels the suite evaluates.
func TestDashboardReadsBack(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	raw, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard.Dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s does not read back as a dashboard: %v", committed, err)
	}
	if d.Uid == nil || *d.Uid != UID {
		t.Errorf("uid %v, want %s", d.Uid, UID)
	}
	var names []string
	for _, v := range d.Templating.List {
		names = append(names, v.Name)
	}
	if want := []string{"datasource", "node", "pod"}; !equal(names, want) {
		t.Errorf("variables %v, want %v", names, want)
	}
	if n := len(targets(t)); n < 15 {
		t.Errorf("%d queries, want the 15 panels' at least", n)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
