// Package explain holds what backlogctl knows about how Linux accepts TCP
// connections, as text: the queues, the tunables, the counters and the
// descriptor limits. `backlogctl explain` prints it at the terminal and the
// backlogctl-kernel(7) man page is generated from it, so both say the same.
package explain

import (
	"fmt"
	"sort"
	"strings"

	"github.com/backlogctl/backlogctl/sysctl"
)

// Kind says what a topic is about.
type Kind string

const (
	// KindConcept topics explain a mechanism (the SYN queue, syncookies, ...).
	KindConcept Kind = "topic"
	// KindTunable topics explain one sysctl of the registry.
	KindTunable Kind = "tunable"
	// KindCounter topics explain one kernel counter, under its nstat(8) name.
	KindCounter Kind = "counter"
)

// Topic is one thing `backlogctl explain` can explain.
type Topic struct {
	// Name is what to type: a concept (syn-queue), a sysctl name or a counter name.
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	// Summary is one line, for lists.
	Summary string `json:"summary"`
	// Aliases are other names that find this topic (somaxconn, ListenOverflows).
	Aliases []string `json:"aliases,omitempty"`
	// Key is the registry entry of a tunable: scope, type, range, default.
	Key *sysctl.Key `json:"key,omitempty"`
	// Text is the explanation, in paragraphs; a paragraph starting "- " is a list item.
	Text []string `json:"text"`
	// Counters are the counters that show this limit being hit.
	Counters []string `json:"counters,omitempty"`
	// Folklore lists common claims about this topic that the kernel contradicts.
	Folklore []string `json:"folklore,omitempty"`
	// SeeAlso names related topics.
	SeeAlso []string `json:"see_also,omitempty"`
}

// All returns every topic: concepts first, then the tunables in registry
// order, then the counters.
func All() []Topic {
	out := make([]Topic, 0, len(concepts)+len(sysctl.Registry)+len(counters))
	out = append(out, concepts...)
	for _, k := range sysctl.Registry {
		out = append(out, tunableTopic(k))
	}
	out = append(out, counters...)
	return out
}

// Concepts returns the concept topics (syn-queue, accept-queue, ...).
func Concepts() []Topic { return append([]Topic(nil), concepts...) }

// Tunables returns one topic per registry key, in registry order.
func Tunables() []Topic {
	out := make([]Topic, 0, len(sysctl.Registry))
	for _, k := range sysctl.Registry {
		out = append(out, tunableTopic(k))
	}
	return out
}

// Counters returns the counter topics.
func Counters() []Topic { return append([]Topic(nil), counters...) }

// Lookup finds a topic by name or alias. Sysctl keys are found as
// sysctl.Lookup finds them (dotted name, slash path or alias); concepts and
// counters case-insensitively, counters also without their TcpExt prefix.
func Lookup(name string) (Topic, bool) {
	if k, ok := sysctl.Lookup(name); ok {
		return tunableTopic(k), true
	}
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" {
		return Topic{}, false
	}
	for _, list := range [][]Topic{concepts, counters} {
		for _, t := range list {
			if strings.ToLower(t.Name) == n {
				return t, true
			}
			for _, a := range t.Aliases {
				if strings.ToLower(a) == n {
					return t, true
				}
			}
		}
	}
	return Topic{}, false
}

// Names returns every name and alias Lookup accepts, sorted; used for
// shell completion.
func Names() []string {
	out := sysctl.Names()
	for _, list := range [][]Topic{concepts, counters} {
		for _, t := range list {
			out = append(out, t.Name)
			out = append(out, t.Aliases...)
		}
	}
	sort.Strings(out)
	return out
}

// tunableTopic joins a registry key with its explanation; a key added to the
// registry without one still explains itself by its one-line meaning.
func tunableTopic(k sysctl.Key) Topic {
	key := k
	t, ok := tunableText[k.Name]
	if !ok {
		t = Topic{Text: []string{k.Meaning + "."}}
	}
	t.Name, t.Kind, t.Key, t.Aliases = k.Name, KindTunable, &key, k.Aliases
	t.Summary = k.Meaning
	return t
}

// KeyFacts are a tunable's scope, type, range and default, one "label: value" each.
func KeyFacts(k sysctl.Key) []string {
	scope := "per network namespace"
	if k.Scope == sysctl.ScopeGlobal {
		scope = "global (one value for the host)"
	}
	out := []string{
		"scope: " + scope,
		"type: " + string(k.Kind),
		fmt.Sprintf("range: %d..%d", k.Min, k.Max),
		"default: " + k.Default,
	}
	if k.ReadOnly {
		out = append(out, "read-only: yes")
	}
	return out
}
