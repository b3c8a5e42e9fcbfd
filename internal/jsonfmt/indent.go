// Package jsonfmt writes JSON the way encoding/json's Encoder does with
// SetIndent("", "  "), byte for byte, but faster: encoding/json's indent pass
// runs its full validating scanner over every byte, which for inspect's
// 9,000-listener report costs more than the marshalling itself.
package jsonfmt

import "io"

// chunk is how much compact input Write indents per write to w.
const chunk = 32 << 10

// Write writes v to w as json.Encoder with SetIndent("", "  ") and
// SetEscapeHTML(false) would, trailing newline included. The indented text is streamed through a small buffer
// rather than built whole.
func Write(w io.Writer, v any) error {
	compact, err := Marshal(v)
	if err != nil {
		return err
	}
	var ind indenter
	buf := make([]byte, 0, 2*chunk)
	for len(compact) > 0 {
		n := min(chunk, len(compact))
		buf = ind.append(buf[:0], compact[:n])
		compact = compact[n:]
		if len(compact) == 0 {
			buf = append(buf, '\n')
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// Indent appends src, which must be compact JSON as json.Marshal produces it
// (no insignificant whitespace), to dst indented by two spaces per level and
// followed by a newline, exactly as json.Indent(dst, src, "", "  ") would:
// empty objects and arrays stay {} and [], a colon is followed by one space.
func Indent(dst, src []byte) []byte {
	var ind indenter
	return append(ind.append(dst, src), '\n')
}

// indenter is Indent's state, kept between pieces of one document.
type indenter struct {
	depth      int
	needIndent bool // after { or [: indent unless the next byte closes it
	inString   bool
	escaped    bool // the previous byte in a string was a backslash
}

func (s *indenter) append(dst, src []byte) []byte {
	return indentAppend(s, dst, src)
}

// indentAppend is indenter.append for []byte and string input alike.
func indentAppend[T []byte | string](s *indenter, dst []byte, src T) []byte {
	for i := 0; i < len(src); i++ {
		c := src[i]
		if s.inString {
			if s.escaped {
				s.escaped = false
				dst = append(dst, c)
				continue
			}
			// Copy the string up to its closing quote or a backslash at once.
			j := i
			for j < len(src) && src[j] != '"' && src[j] != '\\' {
				j++
			}
			dst = append(dst, src[i:j]...)
			if j == len(src) {
				break
			}
			dst = append(dst, src[j])
			if src[j] == '\\' {
				s.escaped = true
			} else {
				s.inString = false
			}
			i = j
			continue
		}
		if s.needIndent && c != '}' && c != ']' {
			s.needIndent = false
			s.depth++
			dst = newline(dst, s.depth)
		}
		if plain[c] {
			// A number or literal: copy it whole.
			j := i + 1
			for j < len(src) && plain[src[j]] {
				j++
			}
			dst = append(dst, src[i:j]...)
			i = j - 1
			continue
		}
		switch c {
		case '"':
			s.inString = true
			dst = append(dst, c)
		case '{', '[':
			s.needIndent = true
			dst = append(dst, c)
		case ',':
			dst = append(dst, c)
			dst = newline(dst, s.depth)
		case ':':
			dst = append(dst, c, ' ')
		case '}', ']':
			if s.needIndent {
				s.needIndent = false
			} else {
				s.depth--
				dst = newline(dst, s.depth)
			}
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// plain marks the bytes of numbers and literals (true, false, null): those
// outside strings that need no spacing.
var plain = func() (t [256]bool) {
	for _, c := range []byte("0123456789+-.eEtrufalsn") {
		t[c] = true
	}
	return t
}()

const spaces = "                                                                "

func newline(dst []byte, depth int) []byte {
	dst = append(dst, '\n')
	for n := 2 * depth; n > 0; {
		k := min(n, len(spaces))
		dst = append(dst, spaces[:k]...)
		n -= k
	}
	return dst
}
