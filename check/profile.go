package check

import (
	"math/big"
	"sort"
	"strconv"

	"github.com/backlogctl/backlogctl/advise"
)

// ProfileRequirements turns a tune profile into requirements, so that
// `check --profile X` verifies what `tune --profile X --apply` set: each key
// must be at least its target, or equal it for the profile's Exact keys.
func ProfileRequirements(p advise.Profile) []Requirement {
	keys := make([]string, 0, len(p.Targets))
	for k := range p.Targets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Requirement, 0, len(keys))
	for _, k := range keys {
		op := OpGE
		if p.Exact[k] {
			op = OpEQ
		}
		target := p.Targets[k]
		out = append(out, Requirement{
			Expr: Expr{
				Subject:   Subject{Kind: KindSysctl, Field: k},
				Op:        op,
				Value:     new(big.Rat).SetInt64(target),
				ValueText: strconv.FormatInt(target, 10),
			},
			Source: "profile " + p.Name,
		})
	}
	return out
}
