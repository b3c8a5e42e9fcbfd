package tableprinter

import (
	"slices"
	"strings"

	"github.com/clipperhouse/displaywidth"
)

// columnGap is the blank between columns on a terminal.
const columnGap = 2

// minWrapWidth is the narrowest a wrapped column may become; below it, the
// text would be more line breaks than words.
const minWrapWidth = 12

// SetWidth makes the terminal table fit width columns (0: no limit), using
// DropColumns and WrapColumn. Tab-separated output for pipes is never cut.
func (p *Printer) SetWidth(width int) *Printer {
	p.width = width
	return p
}

// WrapColumn names the column (by header) whose text is word-wrapped onto
// continuation lines when the table is wider than its width: MEANING,
// REASON, the prose a person reads last.
func (p *Printer) WrapColumn(header string) *Printer {
	p.wrap = header
	return p
}

// DropColumns names columns left out, in this order, while the table is
// wider than its width and the WrapColumn (if any) has too little room to
// wrap in: a narrow terminal keeps the columns that matter most.
func (p *Printer) DropColumns(headers ...string) *Printer {
	p.drop = headers
	return p
}

// fit returns the header and rows to draw in p.width columns.
func (p *Printer) fit() ([]string, [][]string) {
	header, rows := p.header, p.rows
	if p.width <= 0 || len(header) == 0 {
		return header, rows
	}
	widths := columnWidths(header, rows)
	wrapRoom := func() int {
		if i := slices.Index(header, p.wrap); i >= 0 {
			return p.width - (tableWidth(widths) - widths[i])
		}
		return 0
	}
	for _, name := range p.drop {
		if tableWidth(widths) <= p.width || wrapRoom() >= minWrapWidth {
			break
		}
		if i := slices.Index(header, name); i >= 0 {
			header = slices.Delete(slices.Clone(header), i, i+1)
			rows = dropColumn(rows, i)
			widths = slices.Delete(widths, i, i+1)
		}
	}
	wrap := slices.Index(header, p.wrap)
	if wrap < 0 || tableWidth(widths) <= p.width {
		return header, rows
	}
	room := wrapRoom()
	if room < minWrapWidth {
		return header, rows
	}
	var wrapped [][]string
	for _, r := range rows {
		lines := wrapText(r[wrap], room)
		for j, line := range lines {
			row := make([]string, len(r))
			if j == 0 {
				copy(row, r)
			}
			row[wrap] = line
			wrapped = append(wrapped, row)
		}
	}
	return header, wrapped
}

func columnWidths(header []string, rows [][]string) []int {
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = displaywidth.String(h)
	}
	for _, r := range rows {
		for i := range min(len(r), len(widths)) {
			widths[i] = max(widths[i], displaywidth.String(r[i]))
		}
	}
	return widths
}

func tableWidth(widths []int) int {
	total := 0
	for _, w := range widths {
		total += w
	}
	return total + columnGap*(len(widths)-1)
}

func dropColumn(rows [][]string, i int) [][]string {
	out := make([][]string, len(rows))
	for j, r := range rows {
		if i < len(r) {
			r = slices.Delete(slices.Clone(r), i, i+1)
		}
		out[j] = r
	}
	return out
}

// wrapText breaks s at spaces into lines at most width wide; a word longer
// than width is cut.
func wrapText(s string, width int) []string {
	var lines []string
	var line strings.Builder
	lineWidth := 0
	for _, word := range strings.Fields(s) {
		w := displaywidth.String(word)
		for w > width { // a word that fits no line: cut it
			if lineWidth > 0 {
				lines = append(lines, line.String())
				line.Reset()
				lineWidth = 0
			}
			head := displaywidth.TruncateString(word, width, "")
			lines = append(lines, head)
			word = word[len(head):]
			w = displaywidth.String(word)
		}
		if lineWidth > 0 && lineWidth+1+w > width {
			lines = append(lines, line.String())
			line.Reset()
			lineWidth = 0
		}
		if lineWidth > 0 {
			line.WriteByte(' ')
			lineWidth++
		}
		line.WriteString(word)
		lineWidth += w
	}
	if lineWidth > 0 || len(lines) == 0 {
		lines = append(lines, line.String())
	}
	return lines
}

// Cut shortens each line of s to at most width columns (0: no limit), for a
// view that must not wrap on the terminal.
func Cut(s string, width int) string {
	if width <= 0 {
		return s
	}
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		body := strings.TrimSuffix(l, "\n")
		if displaywidth.String(body) > width {
			lines[i] = displaywidth.TruncateString(body, width, "") + l[len(body):]
		}
	}
	return strings.Join(lines, "")
}
