package iostreams

import (
	"io"

	"github.com/backlogctl/backlogctl/internal/textwrap"
)

// Warn writes "backlogctl: warning: MSG" to stderr: on a terminal wrapped
// at its width with a hanging indent, otherwise on one line (for logs and
// grep).
func (s *IOStreams) Warn(msg string) { s.aside("warning", msg) }

// Note writes "backlogctl: note: MSG" to stderr, as Warn does.
func (s *IOStreams) Note(msg string) { s.aside("note", msg) }

func (s *IOStreams) aside(kind, msg string) {
	width := 0
	if s.stderrTTY {
		width = s.stderrWidth()
	}
	_, _ = io.WriteString(s.ErrOut, textwrap.Paragraph(msg, width, "backlogctl: "+kind+": ", "  "))
}
