package tableprinter

import (
	"slices"
	"strings"

	"github.com/clipperhouse/displaywidth"

	"github.com/backlogctl/backlogctl/internal/textwrap"
)

// columnGap is the blank between columns on a terminal.
const columnGap = 2

// minWrapWidth is the narrowest a wrapped column may become; below it, the
// text would be more line breaks than words.
const minWrapWidth = 12

// minCutWidth is the narrowest a shortened column may become: three
// characters and the ellipsis.
const minCutWidth = 4

// ellipsis marks a field shortened to fit.
const ellipsis = "…"

// SetWidth makes the terminal table fit width columns (0: no limit), using
// WrapColumn, DropColumns and CutColumns in that order. Tab-separated output
// for pipes is never cut.
func (p *Printer) SetWidth(width int) *Printer {
	p.width = width
	return p
}

// WrapColumn names the column (by header) whose text is word-wrapped onto
// continuation lines when the table is wider than its width: MEANING,
// REASON, the prose a person reads last. Lines break at spaces and after
// commas (a list of processes).
func (p *Printer) WrapColumn(header string) *Printer {
	p.wrap = header
	return p
}

// WrapAtLeast sets how narrow the WrapColumn may become (default
// minWrapWidth) before columns are dropped instead: a column of
// name=value pairs reads badly below 30.
func (p *Printer) WrapAtLeast(cols int) *Printer {
	p.minWrap = cols
	return p
}

// WrapBelow makes the WrapColumn leave the table when the terminal is too
// narrow for it to get WrapAtLeast columns (after DropColumns): its text is
// printed under the table instead, a paragraph per row that has any, led by
// the row's first lead fields ("FAIL listener.fill: its accept queue...").
func (p *Printer) WrapBelow(lead int) *Printer {
	p.below = lead
	return p
}

func (p *Printer) minWrapWidth() int {
	if p.minWrap > 0 {
		return p.minWrap
	}
	return minWrapWidth
}

// DropColumns names columns left out, in this order, while the table is
// wider than its width and the WrapColumn (if any) has too little room to
// wrap in: a narrow terminal keeps the columns that matter most. -o wide
// (no width) shows them all.
func (p *Printer) DropColumns(headers ...string) *Printer {
	p.drop = headers
	return p
}

// CutColumns names the columns that may be shortened, with an ellipsis,
// when dropping every DropColumns column still leaves the table too wide
// (a long Unix socket path, a list of owners); without it, any column may
// be, the widest first. Numbers a person compares should not be named.
func (p *Printer) CutColumns(headers ...string) *Printer {
	p.cut = headers
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
		if tableWidth(widths) <= p.width || wrapRoom() >= p.minWrapWidth() {
			break
		}
		if i := slices.Index(header, name); i >= 0 {
			header = slices.Delete(slices.Clone(header), i, i+1)
			rows = dropColumn(rows, i)
			widths = slices.Delete(widths, i, i+1)
		}
	}
	if tableWidth(widths) <= p.width {
		return header, rows
	}
	wrap := slices.Index(header, p.wrap)
	if wrap >= 0 && p.below > 0 && wrapRoom() < p.minWrapWidth() {
		p.detached = nil
		for _, r := range rows {
			if wrap < len(r) && strings.TrimSpace(r[wrap]) != "" {
				p.detached = append(p.detached, [2]string{strings.Join(r[:min(p.below, len(r))], " "), r[wrap]})
			}
		}
		header = slices.Delete(slices.Clone(header), wrap, wrap+1)
		rows = dropColumn(rows, wrap)
		widths = slices.Delete(widths, wrap, wrap+1)
		if tableWidth(widths) <= p.width {
			return header, rows
		}
		wrap = -1
	}
	if wrap >= 0 && wrapRoom() >= p.minWrapWidth() {
		return header, wrapColumn(rows, wrap, wrapRoom())
	}
	// Still too wide: shorten the widest columns that may be, the wrapped
	// one no narrower than minWrapWidth, then wrap it at what it has left.
	target := p.shrink(header, widths, wrap)
	rows = cutRows(rows, target, wrap)
	header = cutRow(header, target, -1)
	if wrap >= 0 && target[wrap] < widths[wrap] {
		rows = wrapColumn(rows, wrap, target[wrap])
	}
	return header, rows
}

// shrink returns column widths that fit p.width as nearly as the columns
// allowed to shrink can make it: first the wrapped column, down to
// its minimum width (wrapping loses nothing), then the others that may be cut,
// one column at a time, always the widest of them.
func (p *Printer) shrink(header []string, widths []int, wrap int) []int {
	target := slices.Clone(widths)
	over := tableWidth(target) - p.width
	if wrap >= 0 {
		by := min(over, max(0, target[wrap]-p.minWrapWidth()))
		target[wrap] -= by
		over -= by
	}
	may := func(i int) bool { return i != wrap && (len(p.cut) == 0 || slices.Contains(p.cut, header[i])) }
	for ; over > 0; over-- {
		widest := -1
		for i, w := range target {
			if may(i) && w > minCutWidth && (widest < 0 || w > target[widest]) {
				widest = i
			}
		}
		if widest < 0 {
			break // nothing left to shorten: the terminal is too narrow
		}
		target[widest]--
	}
	return target
}

func cutRows(rows [][]string, widths []int, wrap int) [][]string {
	out := make([][]string, len(rows))
	for j, r := range rows {
		out[j] = cutRow(r, widths, wrap)
	}
	return out
}

// cutRow shortens each field to its column's width, with an ellipsis,
// except the wrapped column (wrap), which is broken into lines instead.
func cutRow(r []string, widths []int, wrap int) []string {
	out := slices.Clone(r)
	for i := range min(len(out), len(widths)) {
		if i != wrap && displaywidth.String(out[i]) > widths[i] {
			out[i] = displaywidth.TruncateString(out[i], widths[i], ellipsis)
		}
	}
	return out
}

// Paragraph is textwrap.Paragraph, for the renderers that draw tables and
// prose around them.
func Paragraph(text string, width int, first, rest string) string {
	return textwrap.Paragraph(text, width, first, rest)
}

// wrapColumn breaks column i of each row into lines of at most room
// columns, each continuation line a row of its own with the other fields
// blank.
func wrapColumn(rows [][]string, i, room int) [][]string {
	var wrapped [][]string
	for _, r := range rows {
		lines := textwrap.Text(r[i], room)
		for j, line := range lines {
			row := make([]string, len(r))
			if j == 0 {
				copy(row, r)
			}
			row[i] = line
			wrapped = append(wrapped, row)
		}
	}
	return wrapped
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
