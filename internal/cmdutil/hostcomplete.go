package cmdutil

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/model"
)

// CompleteFromHost makes every command of the tree under root complete the
// values that exist on this host, as they are typed:
//
//	--netns          the namespaces named under /run/netns
//	--port           the ports of the live TCP listeners
//	--path           the live Unix listeners' paths
//	--pid            the processes that own listeners
//	--process        their names
//	--systemd-unit   the systemd units of those processes
//
// each with what it is as the description ("nginx[4242]"), read through
// the collector in the namespace --netns names when it is on the line.
// Call it once the tree is built; a flag that already has a completion
// keeps it.
func CompleteFromHost(root *cobra.Command, f *Factory) {
	funcs := map[string]func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective){
		"netns":        f.completeNetns,
		"port":         f.listenerCompletion(portChoices),
		"path":         f.listenerCompletion(pathChoices),
		"pid":          f.listenerCompletion(pidChoices),
		"process":      f.listenerCompletion(processChoices),
		"systemd-unit": f.completeUnits,
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for name, fn := range funcs {
			if c.Flags().Lookup(name) == nil {
				continue
			}
			if _, ok := c.GetFlagCompletionFunc(name); !ok {
				_ = c.RegisterFlagCompletionFunc(name, fn)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func (f *Factory) completeNetns(_ *cobra.Command, _ []string, partial string) ([]string, cobra.ShellCompDirective) {
	var out []string
	for _, name := range collect.NamespaceNames(f.Roots) {
		if strings.HasPrefix(name, partial) {
			out = append(out, name+"\tnetwork namespace under /run/netns")
		}
	}
	// A path (/proc/PID/ns/net) is the other form: complete files then.
	if strings.Contains(partial, "/") {
		return nil, cobra.ShellCompDirectiveDefault
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// choice is one completion: the value and what it is.
type choice struct{ value, about string }

// listenerCompletion completes from one snapshot of the listeners, with
// their owners, in the namespace --netns names (or here).
func (f *Factory) listenerCompletion(pick func([]model.Listener) []choice) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(c *cobra.Command, _ []string, partial string) ([]string, cobra.ShellCompDirective) {
		o := collect.Options{Roots: f.Roots, Owners: collect.OwnersOn}
		if fl := c.Flags().Lookup("netns"); fl != nil && fl.Changed {
			o.Namespaces.Netns = fl.Value.String()
		}
		m, err := collect.Snapshot(o)
		if err != nil || len(m.Namespaces) == 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return matching(pick(m.Namespaces[0].Snapshot.Listeners), partial), cobra.ShellCompDirectiveNoFileComp
	}
}

// matching formats the choices that start with partial, each once, in order.
func matching(cs []choice, partial string) []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range cs {
		if seen[c.value] || !strings.HasPrefix(c.value, partial) {
			continue
		}
		seen[c.value] = true
		out = append(out, c.value+"\t"+c.about)
	}
	return out
}

func portChoices(ls []model.Listener) []choice {
	var out []choice
	for _, l := range sortedTCP(ls) {
		out = append(out, choice{strconv.Itoa(int(l.Port)), about(l)})
	}
	return out
}

func pathChoices(ls []model.Listener) []choice {
	var out []choice
	for _, l := range ls {
		if l.IsUnix() && l.Path != "" {
			out = append(out, choice{l.Path, about(l)})
		}
	}
	slices.SortFunc(out, func(a, b choice) int { return cmp.Compare(a.value, b.value) })
	return out
}

func pidChoices(ls []model.Listener) []choice {
	var out []choice
	for _, p := range owners(ls) {
		out = append(out, choice{strconv.Itoa(p.PID), p.Comm})
	}
	return out
}

func processChoices(ls []model.Listener) []choice {
	var out []choice
	for _, p := range owners(ls) {
		out = append(out, choice{p.Comm, fmt.Sprintf("pid %d", p.PID)})
	}
	return out
}

// sortedTCP are the TCP listeners by port.
func sortedTCP(ls []model.Listener) []model.Listener {
	var tcp []model.Listener
	for _, l := range ls {
		if !l.IsUnix() {
			tcp = append(tcp, l)
		}
	}
	slices.SortStableFunc(tcp, func(a, b model.Listener) int { return cmp.Compare(a.Port, b.Port) })
	return tcp
}

// owners are the listeners' owning processes, each once, by pid.
func owners(ls []model.Listener) []model.Process {
	var ps []model.Process
	for _, l := range ls {
		for _, p := range l.Processes {
			if !slices.ContainsFunc(ps, func(q model.Process) bool { return q.PID == p.PID }) {
				ps = append(ps, p)
			}
		}
	}
	slices.SortFunc(ps, func(a, b model.Process) int { return cmp.Compare(a.PID, b.PID) })
	return ps
}

// about describes a listener: its address and owners, "0.0.0.0 nginx[4242]".
func about(l model.Listener) string {
	addr, _ := l.Columns()
	names := make([]string, 0, len(l.Processes))
	for _, p := range l.Processes {
		names = append(names, fmt.Sprintf("%s[%d]", p.Comm, p.PID))
	}
	if len(names) == 0 {
		return addr
	}
	return addr + " " + strings.Join(names, ",")
}

// completeUnits completes the systemd units of the processes that own
// listeners, with the processes as the description.
func (f *Factory) completeUnits(_ *cobra.Command, _ []string, partial string) ([]string, cobra.ShellCompDirective) {
	rep, err := collect.Limits(collect.Options{Roots: f.Roots}, nil)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var cs []choice
	for _, p := range rep.Processes {
		if p.Unit != "" {
			cs = append(cs, choice{p.Unit, fmt.Sprintf("%s[%d]", p.Comm, p.PID)})
		}
	}
	slices.SortStableFunc(cs, func(a, b choice) int { return cmp.Compare(a.value, b.value) })
	return matching(cs, partial), cobra.ShellCompDirectiveNoFileComp
}
