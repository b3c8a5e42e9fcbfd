package explain

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/internal/iostreams"
)

// explain profiles -o json says, for every built-in profile, every key it
// sets, the value and whether it is exact: what tune --profile plans from.
func TestExplainProfilesJSON(t *testing.T) {
	ios, _, out, _ := iostreams.Test()
	if err := explainRun(&Options{IO: ios, Topic: "profiles", Output: "json"}); err != nil {
		t.Fatal(err)
	}
	var got []profileEntry
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(got) != len(advise.Profiles) {
		t.Fatalf("%d profiles, want %d", len(got), len(advise.Profiles))
	}
	for i, p := range advise.Profiles {
		targets, exact := map[string]int64{}, map[string]bool{}
		for _, s := range got[i].Settings {
			targets[s.Key] = s.Value
			if s.Exact {
				exact[s.Key] = true
			}
			if s.Meaning == "" || s.Scope == "" {
				t.Errorf("%s %s: no meaning or scope", p.Name, s.Key)
			}
		}
		if got[i].Name != p.Name || got[i].Description != p.Description {
			t.Errorf("profile %d = %s %q, want %s", i, got[i].Name, got[i].Description, p.Name)
		}
		if diff := cmp.Diff(p.Targets, targets); diff != "" {
			t.Errorf("%s targets (-want +got):\n%s", p.Name, diff)
		}
		if diff := cmp.Diff(p.Exact, exact); diff != "" {
			t.Errorf("%s exact keys (-want +got):\n%s", p.Name, diff)
		}
	}
}

func TestExplainProfilesTable(t *testing.T) {
	for _, topic := range []string{"profiles", "Profiles"} {
		ios, _, out, _ := iostreams.Test()
		if err := explainRun(&Options{IO: ios, Topic: topic, Output: "table"}); err != nil {
			t.Fatal(err)
		}
		for _, p := range advise.Profiles {
			if !strings.Contains(out.String(), "\n"+p.Name+": ") {
				t.Errorf("explain %s lacks profile %s:\n%s", topic, p.Name, out)
			}
			for k, v := range p.Targets {
				rule := "at least "
				if p.Exact[k] {
					rule = "exactly "
				}
				if !strings.Contains(out.String(), k+"\t"+rule+strconv.FormatInt(v, 10)+"\t") {
					t.Errorf("explain %s lacks %s %s%d:\n%s", topic, k, rule, v, out)
				}
			}
		}
	}
}

func TestProfilesListedAndCompleted(t *testing.T) {
	ios, _, out, _ := iostreams.Test()
	if err := explainRun(&Options{IO: ios, Output: "table"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\nprofiles\ttopic\t") {
		t.Errorf("topic list lacks profiles:\n%s", out)
	}
	comps, _ := CompleteTopics(nil, nil, "prof")
	if len(comps) != 1 || !strings.HasPrefix(comps[0], "profiles\t") {
		t.Errorf("completion of prof = %q", comps)
	}
}
