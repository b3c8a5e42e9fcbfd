package explain

import (
	"fmt"
	"io"
	"strings"

	"github.com/backlogctl/backlogctl/explain"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/tableprinter"
)

// listEntry is one row of the topic list, in the table and in JSON.
type listEntry struct {
	Name    string       `json:"name"`
	Kind    explain.Kind `json:"kind"`
	Summary string       `json:"summary"`
	Aliases []string     `json:"aliases,omitempty"`
}

// listEntries lists topics, with the profiles after the last concept.
func listEntries(topics []explain.Topic) []listEntry {
	out := make([]listEntry, 0, len(topics)+1)
	profiles := false
	for _, t := range topics {
		if !profiles && t.Kind != explain.KindConcept {
			out = append(out, profilesListEntry())
			profiles = true
		}
		out = append(out, listEntry{Name: t.Name, Kind: t.Kind, Summary: t.Summary, Aliases: t.Aliases})
	}
	if !profiles {
		out = append(out, profilesListEntry())
	}
	return out
}

func renderList(io *iostreams.IOStreams, entries []listEntry) error {
	tp := tableprinter.For(io.Out, io, "TOPIC", "KIND", "SUMMARY").WrapColumn("SUMMARY").DropColumns("KIND")
	for _, e := range entries {
		tp.AddRow(e.Name, string(e.Kind), e.Summary)
	}
	return tp.Render()
}

// renderTopic prints a topic, its prose wrapped at width columns (the
// terminal's; 0, in a pipe, leaves each paragraph on one line).
func renderTopic(w io.Writer, width int, t explain.Topic) error {
	var b strings.Builder
	wrap(&b, width, t.Name+": "+t.Summary, "", "  ")
	if len(t.Aliases) > 0 {
		fmt.Fprintf(&b, "  aliases: %s\n", strings.Join(t.Aliases, ", "))
	}
	if t.Key != nil {
		for _, fact := range explain.KeyFacts(*t.Key) {
			wrap(&b, width, fact, "  ", "    ")
		}
	}
	for _, p := range t.Text {
		b.WriteByte('\n')
		rest := "  "
		if strings.HasPrefix(p, "- ") {
			rest = "    "
		}
		wrap(&b, width, p, "  ", rest)
	}
	if len(t.Counters) > 0 {
		b.WriteString("\nCounters that show this limit being hit:\n")
		for _, c := range t.Counters {
			ct, _ := explain.Lookup(c)
			wrap(&b, width, fmt.Sprintf("%-28s %s", c, ct.Summary), "  ", strings.Repeat(" ", 31))
		}
	}
	if len(t.Folklore) > 0 {
		b.WriteString("\nFolklore:\n")
		for _, f := range t.Folklore {
			wrap(&b, width, "- "+f, "  ", "    ")
		}
	}
	if len(t.SeeAlso) > 0 {
		b.WriteByte('\n')
		wrap(&b, width, "See also: backlogctl explain "+strings.Join(t.SeeAlso, ", "), "", "  ")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// wrap writes text as lines of at most width columns (0: no limit), the
// first starting with first and the others with rest. Runs of spaces inside text are kept
// only where they align columns (before the first break).
func wrap(b *strings.Builder, width int, text, first, rest string) {
	line, empty := first, true
	words := strings.Fields(text)
	if lead, _, ok := strings.Cut(text, "  "); ok && len(words) > 1 && lead == words[0] {
		// keep the alignment of "NAME<spaces>summary"
		words[0] = text[:len(text)-len(strings.TrimLeft(text[len(lead):], " "))-1]
	}
	for _, word := range words {
		if !empty && width > 0 && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line, empty = rest, true
		}
		if !empty {
			line += " "
		}
		line += word
		empty = false
	}
	b.WriteString(line + "\n")
}
