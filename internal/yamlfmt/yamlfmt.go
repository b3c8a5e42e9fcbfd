// Package yamlfmt writes JSON documents as YAML: -o yaml is the JSON form,
// field for field and in the same order, so a script can switch between the
// two without learning a second schema.
package yamlfmt

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FromJSON converts one JSON document to YAML. Objects keep their field
// order (yaml.v3's node tree, not a map, carries it); strings that would
// read as another type in YAML ("yes", "0123", "1e3") are quoted.
func FromJSON(doc []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(doc, &n); err != nil {
		return nil, fmt.Errorf("converting JSON to YAML: %w", err)
	}
	plain(&n)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, fmt.Errorf("converting JSON to YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("converting JSON to YAML: %w", err)
	}
	return b.Bytes(), nil
}

// plain drops the JSON syntax the parser recorded (flow mappings, double
// quotes), so the encoder writes block YAML and quotes only where needed:
// where a YAML 1.2 reader would take the text for another type (the
// encoder's own rule), or a YAML 1.1 reader (PyYAML, Ruby) for a boolean.
func plain(n *yaml.Node) {
	n.Style = 0
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && oldBools[n.Value] {
		n.Style = yaml.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		plain(c)
	}
}

// oldBools are YAML 1.1's booleans, plain strings in YAML 1.2.
var oldBools = map[string]bool{}

func init() {
	for _, s := range []string{"y", "yes", "n", "no", "true", "false", "on", "off"} {
		for _, v := range []string{s, strings.ToUpper(s[:1]) + s[1:], strings.ToUpper(s)} {
			oldBools[v] = true
		}
	}
}

// Write writes one JSON document to w as YAML.
func Write(w io.Writer, doc []byte) error {
	y, err := FromJSON(doc)
	if err != nil {
		return err
	}
	_, err = w.Write(y)
	return err
}

// WriteStream writes one JSON document of a stream (watch's, trace's JSON
// Lines) to w as a YAML document that begins with "---".
func WriteStream(w io.Writer, doc []byte) error {
	y, err := FromJSON(doc)
	if err != nil {
		return err
	}
	_, err = w.Write(append([]byte("---\n"), y...))
	return err
}
