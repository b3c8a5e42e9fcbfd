// Package tableprinter draws rows for people or for programs: on a terminal,
// aligned columns under a header; in a pipe, tab-separated values under a
// tab-separated header line, so `cut -f` and `awk -F'\t'` work.
package tableprinter

import (
	"io"
	"strings"
	"unicode"

	"github.com/clipperhouse/displaywidth"

	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/textwrap"
)

// Printer collects rows and writes them on Render.
type Printer struct {
	w      io.Writer
	tty    bool
	header []string
	rows   [][]string
	// width, wrap and drop fit a terminal table to the screen (fit.go).
	width int
	wrap  string
	drop  []string
	cut   []string
	// minWrap is WrapAtLeast's width; 0 means minWrapWidth.
	minWrap int
	// below is WrapBelow's lead; detached the texts fit moved under the
	// table, with their leads.
	below    int
	detached [][2]string
	// noHeader leaves the header line out (--no-headers).
	noHeader bool
}

// New returns a printer; tty selects aligned columns, otherwise tab-separated.
func New(w io.Writer, tty bool, header ...string) *Printer {
	return &Printer{w: w, tty: tty, header: header}
}

// For returns a printer writing to w as the output flags and s ask:
// aligned and fitted to the terminal's width on a terminal (every column
// with -o wide), tab-separated in a pipe, without the header line with
// --no-headers.
func For(w io.Writer, s *iostreams.IOStreams, header ...string) *Printer {
	p := New(w, s.IsStdoutTTY(), header...).SetWidth(s.TableWidth())
	p.noHeader = s.NoHeaders()
	return p
}

// AddRow appends one row; it should have as many fields as the header.
// Control characters in a field (a tab or newline in a process name) are
// shown as '?', as ps does, so they cannot split a field or forge a row.
func (p *Printer) AddRow(fields ...string) {
	row := make([]string, len(fields))
	for i, f := range fields {
		row[i] = strings.Map(printable, f)
	}
	p.rows = append(p.rows, row)
}

func printable(r rune) rune {
	if unicode.IsControl(r) {
		return '?'
	}
	return r
}

// Len is the number of rows added.
func (p *Printer) Len() int { return len(p.rows) }

// Render writes the table.
func (p *Printer) Render() error {
	if !p.tty {
		var b strings.Builder
		if len(p.header) > 0 && !p.noHeader {
			b.WriteString(strings.Join(p.header, "\t"))
			b.WriteByte('\n')
		}
		for _, r := range p.rows {
			b.WriteString(strings.Join(r, "\t"))
			b.WriteByte('\n')
		}
		_, err := io.WriteString(p.w, b.String())
		return err
	}
	header, rows := p.fit()
	if len(header) > 0 && !p.noHeader {
		rows = append([][]string{header}, rows...)
	}
	var widths []int
	for _, r := range rows {
		for i, f := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], width(f))
		}
	}
	var out strings.Builder
	for _, r := range rows {
		var line strings.Builder
		for i, f := range r {
			line.WriteString(f)
			if i < len(r)-1 {
				line.WriteString(strings.Repeat(" ", widths[i]-width(f)+2))
			}
		}
		// No trailing blanks: they only get in the way.
		out.WriteString(strings.TrimRight(line.String(), " "))
		out.WriteByte('\n')
	}
	for i, d := range p.detached {
		if i == 0 {
			out.WriteByte('\n')
		}
		out.WriteString(textwrap.Paragraph(d[1], p.width, d[0]+": ", "  "))
	}
	_, err := io.WriteString(p.w, out.String())
	return err
}

// width is how many terminal columns s takes: wide (East Asian) characters
// two, combining marks none. Ambiguous-width characters count as narrow, as
// on every current terminal.
func width(s string) int {
	n := 0
	for _, r := range s {
		n += displaywidth.Options{}.Rune(r)
	}
	return n
}
