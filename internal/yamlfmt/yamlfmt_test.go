package yamlfmt

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

func TestFromJSON(t *testing.T) {
	in := `{"time":"2026-01-02T03:04:05Z","status":"pass","op":">=","n":4096,"f":0.25,"big":1e+21,` +
		`"yes":"yes","zero":"0123","empty":[],"obj":{},"nil":null,"list":[{"b":1,"a":"x y"}],"t":true}`
	want := `time: "2026-01-02T03:04:05Z"
status: pass
op: '>='
"n": 4096
f: 0.25
big: 1e+21
"yes": "yes"
zero: "0123"
empty: []
obj: {}
nil: null
list:
  - b: 1
    a: x y
t: true
`
	got, err := FromJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Read back, it is the same data as the JSON.
	var fromYAML, fromJSON any
	if err := yaml.Unmarshal(got, &fromYAML); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(in), &fromJSON); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fromJSON, fromYAML); diff != "" {
		t.Errorf("YAML reads back differently from the JSON (-json +yaml):\n%s", diff)
	}
}
