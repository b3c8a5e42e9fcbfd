// Package textwrap breaks prose into lines for a terminal: at spaces or
// after commas, with a hanging indent, measuring width in terminal columns
// (wide characters two, combining marks none).
package textwrap

import (
	"strings"

	"github.com/clipperhouse/displaywidth"
)

// minWidth is the narrowest a paragraph's lines become, however narrow the
// terminal: below it the text would be more line breaks than words.
const minWidth = 12

// Text breaks s into lines at most width columns wide, at spaces or
// after a comma (so "a[1],b[2]" breaks between its items); a word longer
// than width is cut across lines.
func Text(s string, width int) []string {
	return wrapLines(s, width, width)
}

// wrapLines is WrapText with the first line first columns wide and the
// others rest.
func wrapLines(s string, first, rest int) []string {
	var lines []string
	var line strings.Builder
	lineWidth := 0
	width := func() int {
		if len(lines) == 0 {
			return max(1, first)
		}
		return max(1, rest)
	}
	flush := func() {
		lines = append(lines, line.String())
		line.Reset()
		lineWidth = 0
	}
	for _, tok := range tokens(s) {
		word := tok.text
		w := displaywidth.String(word)
		for w > width() { // a word that fits no line: cut it
			if lineWidth > 0 {
				flush()
			}
			head := displaywidth.TruncateString(word, width(), "")
			line.WriteString(head)
			flush()
			word = word[len(head):]
			w = displaywidth.String(word)
		}
		gap := 0
		if lineWidth > 0 && tok.space {
			gap = 1
		}
		if lineWidth > 0 && lineWidth+gap+w > width() {
			flush()
			gap = 0
		}
		if gap > 0 {
			line.WriteByte(' ')
		}
		line.WriteString(word)
		lineWidth += gap + w
	}
	if lineWidth > 0 || len(lines) == 0 {
		lines = append(lines, line.String())
	}
	return lines
}

// token is a piece of text a line may break before: a word after a space
// (space true), or the part of a word after a comma.
type token struct {
	text  string
	space bool
}

func tokens(s string) []token {
	var out []token
	for _, field := range strings.Fields(s) {
		for i, part := range strings.SplitAfter(field, ",") {
			if part != "" {
				out = append(out, token{text: part, space: i == 0})
			}
		}
	}
	return out
}

// Paragraph wraps text to width columns (0: one line, as in a pipe): the
// first line starts with first, the others with rest, a hanging indent
// (first "   why: ", rest eight blanks). Every line ends in a newline.
func Paragraph(text string, width int, first, rest string) string {
	if width <= 0 {
		return first + strings.Join(strings.Fields(text), " ") + "\n"
	}
	var b strings.Builder
	lines := wrapLines(text, max(minWidth, width-displaywidth.String(first)), max(minWidth, width-displaywidth.String(rest)))
	for i, line := range lines {
		if i == 0 {
			b.WriteString(first)
		} else {
			b.WriteString(rest)
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}
