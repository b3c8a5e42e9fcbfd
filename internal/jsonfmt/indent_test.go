package jsonfmt

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// encoderOutput is what encoding/json's indented Encoder, without HTML
// escaping, writes for v.
func encoderOutput(t testing.TB, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type inner struct {
	A     int               `json:"a"`
	Empty []int             `json:"empty"`
	Nil   []int             `json:"nil"`
	M     map[string]uint64 `json:"m"`
	EM    map[string]int    `json:"em"`
	P     *bool             `json:"p,omitempty"`
}

func TestMarshalMatchesEncoder(t *testing.T) {
	yes := true
	tests := map[string]any{
		"scalar":         42,
		"string":         "plain",
		"empty object":   struct{}{},
		"empty array":    []int{},
		"null":           nil,
		"nested":         []inner{{A: 1, Empty: []int{}, M: map[string]uint64{"b": 2, "a": 1}, EM: map[string]int{}, P: &yes}, {}},
		"tricky strings": []string{`quote " inside`, `back\slash`, "tab\tnewline\n", "<html>&amp;", "\u2028\u2029", "bad utf8 \xff", `{"not":[json]}`, `:,[]{}`, "\\\"", "ends with backslash\\"},
		"floats":         []float64{0, 1, 0.5, 1e-7, 1e21, math.MaxFloat64, -2.25},
		"deep":           [][][]map[string][]int{{{{"x": {1, 2}}}}, {}},
		"time":           time.Date(2026, 11, 23, 20, 0, 0, 123, time.UTC),
	}
	for name, v := range tests {
		t.Run(name, func(t *testing.T) {
			want := encoderOutput(t, v)
			var buf bytes.Buffer
			if err := Write(&buf, v); err != nil {
				t.Fatal(err)
			}
			got := buf.Bytes()
			if !bytes.Equal(want, got) {
				t.Errorf("Write differs from json.Encoder with SetIndent:\nwant:\n%s\ngot:\n%s", want, got)
			}
		})
	}
}

// TestWriteLargeDocument crosses Write's chunk boundaries inside strings,
// escapes and between tokens.
func TestWriteLargeDocument(t *testing.T) {
	var v []map[string]any
	for i := 0; i < 5000; i++ {
		v = append(v, map[string]any{"s": strings.Repeat(`a\"<`, i%37), "n": i, "e": []int{}, "o": map[string]int{"k": i}})
	}
	want := encoderOutput(t, v)
	var buf bytes.Buffer
	if err := Write(&buf, v); err != nil {
		t.Fatal(err)
	}
	if len(want) < 4*chunk {
		t.Fatalf("document of %d bytes does not cross enough chunks", len(want))
	}
	if !bytes.Equal(want, buf.Bytes()) {
		t.Errorf("Write differs from json.Encoder with SetIndent on a %d-byte document", len(want))
	}
}

func TestWriteReportsMarshalErrors(t *testing.T) {
	if err := Write(&bytes.Buffer{}, math.Inf(1)); err == nil {
		t.Error("Write(+Inf) succeeded, want the json.Marshal error")
	}
}

// FuzzIndent checks Indent against json.Indent on whatever compact JSON the
// fuzzer builds from arbitrary strings and nestings.
func FuzzIndent(f *testing.F) {
	f.Add(`a"b\c`, 3, true)
	f.Add("", 0, false)
	f.Fuzz(func(t *testing.T, s string, n int, nest bool) {
		var v any = map[string]any{s: []any{s, n, nest, map[string]any{}, []any{}}}
		if nest {
			v = []any{v, v}
		}
		compact, err := json.Marshal(v)
		if err != nil {
			t.Skip()
		}
		var want bytes.Buffer
		if err := json.Indent(&want, compact, "", "  "); err != nil {
			t.Fatal(err)
		}
		want.WriteByte('\n')
		if got := Indent(nil, compact); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("Indent(%s):\n%s\nwant\n%s", compact, got, want.Bytes())
		}
	})
}
