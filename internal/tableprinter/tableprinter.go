// Package tableprinter draws rows for people or for programs: on a terminal,
// aligned columns under a header; in a pipe, tab-separated values under a
// tab-separated header line, so `cut -f` and `awk -F'\t'` work.
package tableprinter

import (
	"bytes"
	"io"
	"strings"
	"unicode"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
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
}

// New returns a printer; tty selects aligned columns, otherwise tab-separated.
func New(w io.Writer, tty bool, header ...string) *Printer {
	return &Printer{w: w, tty: tty, header: header}
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
		if len(p.header) > 0 {
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
	var buf bytes.Buffer
	t := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders: tw.BorderNone,
			Symbols: tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{
				Separators: tw.Separators{BetweenColumns: tw.Off, BetweenRows: tw.Off},
				Lines:      tw.Lines{ShowHeaderLine: tw.Off},
			},
		})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithPadding(tw.Padding{Left: "", Right: "  "}),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
	)
	if len(header) > 0 {
		t.Header(header)
	}
	for _, r := range rows {
		if err := t.Append(r); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	// tablewriter pads the last column; trailing blanks only get in the way.
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	var out strings.Builder
	for _, l := range lines {
		out.WriteString(strings.TrimRight(l, " "))
		out.WriteByte('\n')
	}
	_, err := io.WriteString(p.w, out.String())
	return err
}
