package advise

import (
	"testing"

	"github.com/backlogctl/backlogctl/model"
)

// A process started under prlimit 64 with a descriptor inherited above the
// limit has 65 open but uses 64: the text must not claim 65 of 64, which the
// kernel cannot allow.
func TestUsesTextCountsOnlyBelowTheLimit(t *testing.T) {
	for _, tc := range []struct {
		p    model.Process
		want string
	}{
		{model.Process{OpenFDs: 65, FDsAboveLimit: 1, NofileSoft: 64},
			"uses 64 descriptors of its RLIMIT_NOFILE soft limit 64 (and holds 1 more, inherited above the limit)"},
		{model.Process{OpenFDs: 17, NofileSoft: 1024},
			"uses 17 descriptors of its RLIMIT_NOFILE soft limit 1024"},
	} {
		if got := usesText(tc.p); got != tc.want {
			t.Errorf("usesText(%+v) = %q, want %q", tc.p, got, tc.want)
		}
	}
}
