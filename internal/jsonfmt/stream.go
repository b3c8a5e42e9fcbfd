package jsonfmt

import "io"

// Stream writes one indented document from compact pieces, the way Write
// would indent the whole, through a buffer that is flushed to w whenever it
// holds chunk bytes: a large document is never held whole, and no piece is
// encoded by reflection unless the caller asks for it with Value.
type Stream struct {
	w   io.Writer
	buf []byte
	ind indenter
	err error
}

// NewStream returns a Stream writing to w.
func NewStream(w io.Writer) *Stream {
	return &Stream{w: w, buf: make([]byte, 0, 2*chunk)}
}

// Compact appends p, compact JSON as json.Marshal writes it (a whole value
// or any piece of one), indented as it belongs at this point of the document.
func (s *Stream) Compact(p []byte) { streamAppend(s, p) }

// Raw is Compact for a piece given as a string, such as `,"listeners":[`.
func (s *Stream) Raw(p string) { streamAppend(s, p) }

func streamAppend[T []byte | string](s *Stream, p T) {
	if s.err != nil {
		return
	}
	s.buf = indentAppend(&s.ind, s.buf, p)
	if len(s.buf) >= chunk {
		s.flush()
	}
}

// Value appends v as Marshal encodes it.
func (s *Stream) Value(v any) {
	if s.err != nil {
		return
	}
	b, err := Marshal(v)
	if err != nil {
		s.err = err
		return
	}
	s.Compact(b)
}

// Close ends the document with a newline, as json.Encoder does, writes what
// is left and returns the first error of any call.
func (s *Stream) Close() error {
	if s.err != nil {
		return s.err
	}
	s.buf = append(s.buf, '\n')
	s.flush()
	return s.err
}

func (s *Stream) flush() {
	if _, err := s.w.Write(s.buf); err != nil {
		s.err = err
	}
	s.buf = s.buf[:0]
}
