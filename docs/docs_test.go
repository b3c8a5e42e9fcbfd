// Package docs holds the documentation's tests: the README and docs/*.md
// link to what exists, have no empty sections, and give the build command
// that makes `backlogctl version` true.
package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// pages are the Markdown files checked, relative to this directory.
func pages(t *testing.T) []string {
	t.Helper()
	mds, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{"../README.md"}, mds...)
}

var (
	link    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	heading = regexp.MustCompile(`^(#{1,6}) (.+)$`)
)

// outsideCode returns the lines of md that are not in a fenced code block.
func outsideCode(md string) []string {
	var out []string
	fenced := false
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			out = append(out, l)
		}
	}
	return out
}

// slug is GitHub's anchor for a heading.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors are the anchors of a page's headings.
func anchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, l := range outsideCode(string(raw)) {
		if m := heading.FindStringSubmatch(l); m != nil {
			s := slug(m[2])
			for n := 1; out[s]; n++ {
				s = slug(m[2]) + "-" + string(rune('0'+n))
			}
			out[s] = true
		}
	}
	return out
}

// Every relative link names a file that exists, and an anchor its headings make.
func TestLinksResolve(t *testing.T) {
	for _, page := range pages(t) {
		raw, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range outsideCode(string(raw)) {
			for _, m := range link.FindAllStringSubmatch(l, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				file, anchor, _ := strings.Cut(target, "#")
				path := page
				if file != "" {
					path = filepath.Join(filepath.Dir(page), file)
					if _, err := os.Stat(path); err != nil {
						t.Errorf("%s links to %s: %v", page, target, err)
						continue
					}
				}
				if anchor != "" && strings.HasSuffix(path, ".md") && !anchors(t, path)[anchor] {
					t.Errorf("%s links to %s: no heading makes #%s", page, target, anchor)
				}
			}
		}
	}
}

// No heading is empty: each has text before the next heading of its level
// or above (an "## rlimit" followed at once by "## check" once was).
func TestNoEmptySections(t *testing.T) {
	for _, page := range pages(t) {
		raw, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(raw), "\n")
		fenced := false
		last, lastLevel, text := "", 0, true
		for _, l := range lines {
			if strings.HasPrefix(l, "```") {
				fenced = !fenced
				text = true
				continue
			}
			if m := heading.FindStringSubmatch(l); m != nil && !fenced {
				if !text && len(m[1]) <= lastLevel {
					t.Errorf("%s: %q has nothing under it", page, last)
				}
				last, lastLevel, text = l, len(m[1]), false
				continue
			}
			if strings.TrimSpace(l) != "" {
				text = true
			}
		}
		if !text {
			t.Errorf("%s: %q has nothing under it", page, last)
		}
	}
}

// The README is a tour; the reference is in docs/. Its build command makes
// `backlogctl version` name the commit even where GOFLAGS=-buildvcs=false.
func TestReadmeIsATour(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	if n := strings.Count(readme, "\n"); n > 450 {
		t.Errorf("README is %d lines: keep it a tour, the reference goes to docs/REFERENCE.md", n)
	}
	for _, l := range strings.Split(readme, "\n") {
		if strings.Contains(l, "go build") && strings.Contains(l, "./cmd/backlogctl") && !strings.Contains(l, "-buildvcs=true") {
			t.Errorf("README's build command %q lacks -buildvcs=true: version would say dev/none where GOFLAGS=-buildvcs=false", l)
		}
	}
}
