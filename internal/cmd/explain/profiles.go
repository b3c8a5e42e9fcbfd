package explain

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/explain"
	"github.com/backlogctl/backlogctl/internal/iostreams"
	"github.com/backlogctl/backlogctl/internal/tableprinter"
	"github.com/backlogctl/backlogctl/sysctl"
)

// profilesTopic is the name of `explain profiles`: what each built-in
// profile of tune --profile and check --profile sets.
const profilesTopic = "profiles"

const profilesSummary = "what each built-in profile (tune --profile, check --profile) sets"

// profileEntry is one built-in profile, as `explain profiles` shows it.
type profileEntry struct {
	Name        string           `json:"name"`
	Description string           `json:"description"`
	Settings    []profileSetting `json:"settings"`
}

// profileSetting is one key a profile sets.
type profileSetting struct {
	Key   string `json:"key"`
	Value int64  `json:"value"`
	// Exact keys are set to Value whatever they are; the others are raised
	// to Value when below it and left alone when above.
	Exact   bool   `json:"exact"`
	Scope   string `json:"scope"`
	Meaning string `json:"meaning"`
}

// profileEntries lists the built-in profiles, their keys in registry order.
func profileEntries() []profileEntry {
	out := make([]profileEntry, 0, len(advise.Profiles))
	for _, p := range advise.Profiles {
		e := profileEntry{Name: p.Name, Description: p.Description}
		for _, k := range sysctl.Registry {
			v, ok := p.Targets[k.Name]
			if !ok {
				continue
			}
			e.Settings = append(e.Settings, profileSetting{
				Key: k.Name, Value: v, Exact: p.Exact[k.Name], Scope: string(k.Scope), Meaning: k.Meaning,
			})
		}
		out = append(out, e)
	}
	return out
}

// profilesListEntry is the profiles row of the topic list.
func profilesListEntry() listEntry {
	return listEntry{Name: profilesTopic, Kind: explain.KindConcept, Summary: profilesSummary}
}

// renderProfiles draws each profile as a heading and a table of its keys.
func renderProfiles(io *iostreams.IOStreams, entries []profileEntry) error {
	w := io.Out
	var head strings.Builder
	wrap(&head, io.TerminalWidth(), profilesTopic+": "+profilesSummary, "", "  ")
	head.WriteByte('\n')
	wrap(&head, io.TerminalWidth(), `tune --profile raises a key marked "at least" to the value when it is below and leaves it alone when above; it sets an "exactly" key to the value. check --profile requires the same (>= or ==).`, "", "")
	if _, err := fmt.Fprint(w, head.String()); err != nil {
		return err
	}
	for _, e := range entries {
		var b strings.Builder
		b.WriteByte('\n')
		wrap(&b, io.TerminalWidth(), e.Name+": "+e.Description, "", "  ")
		fmt.Fprint(w, b.String())
		t := tableprinter.For(w, io, "KEY", "SETS", "SCOPE", "MEANING").WrapColumn("MEANING").DropColumns("SCOPE")
		for _, s := range e.Settings {
			rule := "at least "
			if s.Exact {
				rule = "exactly "
			}
			t.AddRow(s.Key, rule+strconv.FormatInt(s.Value, 10), s.Scope, s.Meaning)
		}
		if err := t.Render(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nSee also: backlogctl tune --profile NAME, backlogctl check --profile NAME")
	return nil
}
