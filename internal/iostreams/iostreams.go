// Package iostreams carries a command's input and output streams and knows
// whether they are terminals, so tables can be aligned for people and plain
// for pipes.
package iostreams

import (
	"bytes"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// IOStreams are the streams a command reads and writes.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	stdinTTY  bool
	stdoutTTY bool
	stderrTTY bool
	// width overrides the terminal's width when above 0 (tests).
	width int

	// The printing choices the output flags made (cmdutil.AddOutputFlag).
	yaml, wide, noHeaders bool
}

// SetYAML makes data written as JSON be written as YAML instead (-o yaml):
// the same document, the same field names, in YAML.
func (s *IOStreams) SetYAML(v bool) { s.yaml = v }

// YAML reports whether -o yaml was asked for.
func (s *IOStreams) YAML() bool { return s.yaml }

// SetWide makes tables show every column, whatever the terminal's width
// (-o wide).
func (s *IOStreams) SetWide(v bool) { s.wide = v }

// Wide reports whether -o wide was asked for.
func (s *IOStreams) Wide() bool { return s.wide }

// SetNoHeaders leaves the header line out of tables (--no-headers).
func (s *IOStreams) SetNoHeaders(v bool) { s.noHeaders = v }

// NoHeaders reports whether --no-headers was asked for.
func (s *IOStreams) NoHeaders() bool { return s.noHeaders }

// TableWidth is the width tables are fitted to: the terminal's, or 0 (no
// limit) with -o wide or when output is not a terminal.
func (s *IOStreams) TableWidth() int {
	if s.wide {
		return 0
	}
	return s.TerminalWidth()
}

// System returns the process's own streams.
func System() *IOStreams {
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		stdinTTY:  isTerminal(os.Stdin),
		stdoutTTY: isTerminal(os.Stdout),
		stderrTTY: isTerminal(os.Stderr),
	}
}

// Test returns streams backed by buffers, not terminals.
func Test() (*IOStreams, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	in, out, errOut := &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}

// IsStdoutTTY reports whether output goes to a terminal.
func (s *IOStreams) IsStdoutTTY() bool { return s.stdoutTTY }

// IsStdinTTY reports whether input comes from a terminal.
func (s *IOStreams) IsStdinTTY() bool { return s.stdinTTY }

// SetStdoutTTY overrides terminal detection (tests, --no-headers style flags).
func (s *IOStreams) SetStdoutTTY(v bool) { s.stdoutTTY = v }

// IsStderrTTY reports whether errors and progress go to a terminal.
func (s *IOStreams) IsStderrTTY() bool { return s.stderrTTY }

// SetStderrTTY overrides terminal detection for stderr (tests).
func (s *IOStreams) SetStderrTTY(v bool) { s.stderrTTY = v }

// SetStdinTTY overrides terminal detection for input.
func (s *IOStreams) SetStdinTTY(v bool) { s.stdinTTY = v }

// DefaultWidth is the width assumed for a terminal that does not say.
const DefaultWidth = 80

// TerminalWidth is the width of the terminal output goes to, in columns: what
// SetTerminalWidth set, else $COLUMNS, else the terminal's own size (asked
// each time, so a resized window is followed), else DefaultWidth. It is 0
// (no limit) when output is not a terminal: pipes and test buffers get every
// line whole.
func (s *IOStreams) TerminalWidth() int {
	if s.width > 0 {
		return s.width
	}
	f, ok := s.Out.(*os.File)
	if !s.stdoutTTY || !ok {
		return 0
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
		return int(ws.Col)
	}
	return DefaultWidth
}

// SetTerminalWidth fixes the width TerminalWidth reports (tests); 0 goes
// back to asking the terminal.
func (s *IOStreams) SetTerminalWidth(cols int) { s.width = cols }

// TerminalHeight is the output terminal's height in rows, or 0 when unknown
// (not a terminal), for views that redraw in place like top.
func (s *IOStreams) TerminalHeight() int {
	ws, ok := winsize(s.Out)
	if !ok {
		return 0
	}
	return int(ws.Row)
}

// winsize asks the terminal w writes to for its size; ok is false when w
// is not a terminal.
func winsize(w io.Writer) (*unix.Winsize, bool) {
	f, ok := w.(*os.File)
	if !ok {
		return nil, false
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	return ws, err == nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
