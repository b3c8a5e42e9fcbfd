package jsonfmt

import (
	"bytes"
	"encoding/json"
	"io"
)

// Marshal is json.Marshal without HTML escaping: "<", ">" and "&" are
// written as they are ("somaxconn >= 4096", not "\u003e="), since the output
// is read by people and jq, never embedded in HTML. Everything else (U+2028,
// U+2029, invalid UTF-8, control characters) is escaped as json.Marshal does.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := NewEncoder(&b).Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

// NewEncoder is json.NewEncoder without HTML escaping, for JSON Lines.
func NewEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}
