// Package suggest finds what a mistyped name was probably meant to be, for
// "did you mean" in errors about keys, subjects, topics and profiles.
package suggest

import (
	"fmt"
	"slices"
	"strings"

	"github.com/agnivade/levenshtein"
)

// Closest returns the candidates nearest to word, nearest first: those
// within an edit distance of a third of the word's length (at least 2),
// compared without case, or that word is a prefix of. At most three.
func Closest(word string, candidates []string) []string {
	type scored struct {
		name string
		dist int
	}
	lw := strings.ToLower(word)
	limit := max(2, len(word)/3)
	var near []scored
	for _, c := range candidates {
		lc := strings.ToLower(c)
		d := levenshtein.ComputeDistance(lw, lc)
		if d > limit && !(len(lw) >= 3 && strings.HasPrefix(lc, lw)) {
			continue
		}
		near = append(near, scored{c, d})
	}
	slices.SortStableFunc(near, func(a, b scored) int { return a.dist - b.dist })
	out := make([]string, 0, 3)
	for _, s := range near {
		if len(out) == 3 {
			break
		}
		if !slices.Contains(out, s.name) {
			out = append(out, s.name)
		}
	}
	return out
}

// DidYouMean is "; did you mean X?" (or "X or Y?") for the candidates
// nearest to word, "" when none is near: to append to an error.
func DidYouMean(word string, candidates []string) string {
	near := Closest(word, candidates)
	if len(near) == 0 {
		return ""
	}
	quoted := make([]string, len(near))
	for i, n := range near {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	return "; did you mean " + strings.Join(quoted, " or ") + "?"
}
