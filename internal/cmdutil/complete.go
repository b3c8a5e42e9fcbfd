package cmdutil

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/sysctl"
)

// CompleteSysctlKeys completes registry sysctl names and aliases, with their
// meaning as the description. Use it as a ValidArgsFunction (sysctl get KEY)
// or with RegisterFlagCompletionFunc.
func CompleteSysctlKeys(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	var out []string
	for _, name := range sysctl.Names() {
		if !MatchesCompletion(name, toComplete) {
			continue
		}
		k, _ := sysctl.Lookup(name)
		out = append(out, name+"\t"+k.Meaning)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// CompleteSysctlSettings completes KEY= for a KEY=VALUE argument or flag
// (sysctl set, tune --set), leaving the cursor after the "=".
func CompleteSysctlSettings(c *cobra.Command, args []string, partial string) ([]string, cobra.ShellCompDirective) {
	keys, _ := CompleteSysctlKeys(c, args, partial)
	for i, k := range keys {
		name, desc, _ := strings.Cut(k, "\t")
		keys[i] = name + "=\t" + desc
	}
	return keys, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
}

// CompleteProfiles completes the built-in profile names (--profile), with
// their description.
func CompleteProfiles(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	var out []string
	for _, p := range advise.Profiles {
		if MatchesCompletion(p.Name, toComplete) {
			out = append(out, p.Name+"\t"+p.Description)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// MatchesCompletion reports whether candidate completes partial: it starts
// with it, or one of its dot-separated parts does, so "som" offers
// net.core.somaxconn as well as somaxconn (shells that filter by prefix keep
// only the latter).
func MatchesCompletion(candidate, partial string) bool {
	if strings.HasPrefix(candidate, partial) {
		return true
	}
	for i := 0; i < len(candidate); i++ {
		if candidate[i] == '.' && strings.HasPrefix(candidate[i+1:], partial) {
			return true
		}
	}
	return false
}
