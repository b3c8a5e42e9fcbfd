// Package mangen writes backlogctl's man pages: one section-1 page per
// command, generated from the cobra tree by cobra/doc and completed with the
// sections cobra does not write (EXIT STATUS, FILES, more SEE ALSO), and the
// section-7 page backlogctl-kernel.7, generated from the explain package.
package mangen

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// DefaultDate is the date the committed pages carry, so that regenerating
// them gives the same bytes; the release build passes the commit's date.
var DefaultDate = time.Date(2026, time.November, 23, 0, 0, 0, 0, time.UTC)

// Options are the pages' header fields.
type Options struct {
	// Version goes into the footer: "backlogctl VERSION".
	Version string
	// Date is the page date.
	Date time.Time
}

// Manual is the title of the manual the pages belong to.
const Manual = "backlogctl Manual"

// Generate writes every page into dir and removes pages there that no
// command has any more. root must be a fresh tree: its commands are changed
// (markdown-safe Long texts, no auto-generated tag).
func Generate(root *cobra.Command, dir string, o Options) error {
	pages, err := Pages(root, o)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, data := range pages {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.[17]"))
	if err != nil {
		return err
	}
	for _, p := range old {
		if _, ok := pages[filepath.Base(p)]; !ok {
			if err := os.Remove(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// Pages returns every page by file name (backlogctl-inspect.1, ...).
func Pages(root *cobra.Command, o Options) (map[string][]byte, error) {
	tmp, err := os.MkdirTemp("", "backlogctl-man-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	root.InitDefaultVersionFlag() // cobra adds --version only when executing
	prepare(root)
	date := o.Date
	source := "backlogctl " + o.Version
	if err := doc.GenManTree(root, &doc.GenManHeader{Section: "1", Source: source, Manual: Manual, Date: &date}, tmp); err != nil {
		return nil, fmt.Errorf("generating man pages: %w", err)
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return nil, err
	}
	pages := make(map[string][]byte, len(entries)+1)
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(tmp, e.Name()))
		if err != nil {
			return nil, err
		}
		pages[e.Name()] = finish(raw, date)
	}
	pages[KernelPage] = Kernel(o)
	return pages, nil
}

// prepare makes each command's texts safe for cobra/doc, which reads them
// as markdown: indented blocks (aligned columns) become literal blocks, and
// characters markdown would take as markup are escaped.
func prepare(c *cobra.Command) {
	c.DisableAutoGenTag = true
	c.Long = markdownSafe(c.Long)
	c.Short = escapeMarkdown(c.Short)
	for _, sub := range c.Commands() {
		prepare(sub)
	}
}

func markdownSafe(text string) string {
	var b strings.Builder
	inBlock := false
	for _, line := range strings.Split(text, "\n") {
		indented := strings.HasPrefix(line, "  ") && strings.TrimSpace(line) != ""
		switch {
		case indented && !inBlock:
			b.WriteString("\n```\n")
			inBlock = true
		case !indented && inBlock:
			b.WriteString("```\n\n")
			inBlock = false
		}
		if inBlock {
			b.WriteString(line + "\n")
		} else {
			b.WriteString(escapeMarkdown(strings.ReplaceAll(line, "\t", " ")) + "\n") // a tab in filled text upsets roff
		}
	}
	if inBlock {
		b.WriteString("```\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

var markdownSpecial = []string{"\\", "`", "*", "<", ">", "[", "]", "#"}

func escapeMarkdown(s string) string {
	var b strings.Builder
	for _, r := range s {
		if slices.Contains(markdownSpecial, string(r)) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// finish completes one cobra/doc page; see roff.go.
func finish(raw []byte, date time.Time) []byte {
	page := string(bytes.ReplaceAll(raw, []byte("\r"), nil))
	return []byte(complete(page, date))
}
