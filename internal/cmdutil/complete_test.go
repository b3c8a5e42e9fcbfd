package cmdutil

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
)

func names(comps []string) []string {
	var out []string
	for _, c := range comps {
		name, _, _ := strings.Cut(c, "\t")
		out = append(out, name)
	}
	return out
}

func TestCompleteSysctlKeys(t *testing.T) {
	tests := []struct {
		partial string
		want    []string
	}{
		{"som", []string{"net.core.somaxconn", "somaxconn"}},
		{"net.core.", []string{"net.core.netdev_max_backlog", "net.core.somaxconn"}},
		{"nr_", []string{"fs.nr_open", "nr_open"}},
		{"zzz", nil},
	}
	for _, tt := range tests {
		got, dir := CompleteSysctlKeys(nil, nil, tt.partial)
		if diff := cmp.Diff(tt.want, names(got)); diff != "" {
			t.Errorf("CompleteSysctlKeys(%q) (-want +got):\n%s", tt.partial, diff)
		}
		if dir != cobra.ShellCompDirectiveNoFileComp {
			t.Errorf("CompleteSysctlKeys(%q) directive = %v, want NoFileComp", tt.partial, dir)
		}
	}
}

func TestCompleteProfiles(t *testing.T) {
	got, _ := CompleteProfiles(nil, nil, "high")
	if diff := cmp.Diff([]string{"high-concurrency"}, names(got)); diff != "" {
		t.Errorf("CompleteProfiles(high) (-want +got):\n%s", diff)
	}
	all, _ := CompleteProfiles(nil, nil, "")
	if len(all) < 2 || !strings.Contains(all[0], "\t") {
		t.Errorf("CompleteProfiles(\"\") = %q, want every profile with a description", all)
	}
}
