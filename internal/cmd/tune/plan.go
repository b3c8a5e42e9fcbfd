package tune

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/collect"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
	"github.com/backlogctl/backlogctl/sysctl"
)

// planFromFindings is the one place tune plans from advise's findings; it is
// used when neither --profile nor --set is given. It gathers exactly what
// advise gathers (two samples --interval apart, owners, what tune recorded),
// so both judge the same evidence. Only warning and critical findings that
// name a sysctl key become changes (advise.PlanFindings).
var planFromFindings = func(o *Options, _ map[string]int64) (advise.Plan, error) {
	in, err := o.evidence()
	if err != nil {
		return advise.Plan{}, err
	}
	return advise.PlanFindings(advise.Advise(in)), nil
}

// evidence gathers advise's input once per run, as advise gathers it: the
// plan and the list of listeners that stay clamped are judged from the
// same samples.
func (o *Options) evidence() (advise.Input, error) {
	if o.input != nil {
		return *o.input, nil
	}
	co := collect.Options{Roots: o.Roots, Stall: time.Second}
	if o.Trace > 0 {
		co.Trace = collect.TraceOn
	}
	samples := o.Collect
	if samples == nil {
		samples = collect.Samples
	}
	all, _, err := samples(co, collect.SampleOptions{Interval: o.Interval, Trace: o.Trace,
		TraceInterval: 100 * time.Millisecond, StateDir: o.StateDir})
	if err != nil {
		return advise.Input{}, cmdutil.EnvError(fmt.Errorf("taking a snapshot to plan from advise's findings: %w", err))
	}
	s := all[0]
	if o.Trace > 0 && s.TraceSeconds == 0 {
		// Refused: say so once, as advise does; the plan stands on the samples.
		for _, w := range s.Warnings {
			if strings.HasPrefix(w, collect.TraceUnavailableWarning) {
				o.IO.Warn(w)
			}
		}
	}
	in := advise.InputOf(s)
	o.input = &in
	return in, nil
}

// buildPlan merges the plan sources, explicit --set winning over --profile
// winning over findings, and orders the changes as the registry lists them.
// Keys not visible here are skipped with a warning when a profile names them
// and refused when --set does.
func buildPlan(o *Options, fs sysctl.FS) (advise.Plan, []string, error) {
	current, errs := fs.Values()
	var warnings []string
	byKey := map[string]advise.Change{}
	add := func(p advise.Plan) {
		for _, c := range p.Changes {
			byKey[c.Key] = c
		}
	}
	if o.profile == nil && len(o.sets) == 0 {
		p, err := planFromFindings(o, current)
		if err != nil {
			return advise.Plan{}, nil, err
		}
		add(p)
	}
	if o.profile != nil {
		if err := readErrors(errs, o.profile.Targets); err != nil {
			return advise.Plan{}, nil, err
		}
		for _, name := range slices.Sorted(maps.Keys(o.profile.Targets)) {
			if _, ok := current[name]; !ok {
				warnings = append(warnings, fmt.Sprintf("profile %s: %s is not visible here (%s); skipped", o.profile.Name, name, absentWhy(name)))
			}
		}
		add(advise.PlanProfile(*o.profile, current))
	}
	for _, s := range o.sets {
		if err := errs[s.Key]; err != nil {
			return advise.Plan{}, nil, cmdutil.EnvError(err)
		}
		cur, ok := current[s.Key]
		if !ok {
			return advise.Plan{}, nil, cmdutil.EnvError(fmt.Errorf("cannot set %s: not visible here (%s)", s.Key, absentWhy(s.Key)))
		}
		target, _ := strconv.ParseInt(s.Value, 10, 64) // validated by ParseAssignment
		delete(byKey, s.Key)
		if cur == target {
			continue
		}
		k, _ := sysctl.Lookup(s.Key)
		byKey[s.Key] = advise.Change{
			Key: s.Key, Current: &cur, Target: target, Scope: k.Scope,
			Reason: fmt.Sprintf("--set %s=%d", s.Key, target),
		}
	}
	var plan advise.Plan
	for _, k := range sysctl.Registry {
		if c, ok := byKey[k.Name]; ok {
			plan.Changes = append(plan.Changes, c)
			delete(byKey, k.Name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(byKey)) { // keys a findings plan named outside the registry
		plan.Changes = append(plan.Changes, byKey[name])
	}
	plan, left, err := netnsOnly(o, plan)
	return plan, append(warnings, left...), err
}

// readErrors fails for the first key of targets that exists but could not be read.
func readErrors[V any](errs map[string]error, targets map[string]V) error {
	for _, name := range slices.Sorted(maps.Keys(targets)) {
		if err := errs[name]; err != nil {
			return cmdutil.EnvError(err)
		}
	}
	return nil
}

// absentWhy explains a key missing from /proc/sys.
func absentWhy(name string) string {
	if k, ok := sysctl.Lookup(name); ok && k.Scope == sysctl.ScopeGlobal {
		return "a global key, absent inside a child network namespace: set it from the host's"
	}
	return "absent in this kernel or network namespace"
}

// lowering lists the changes that lower a value.
func lowering(p advise.Plan) []advise.Change {
	var out []advise.Change
	for _, c := range p.Changes {
		if c.Lowers() {
			out = append(out, c)
		}
	}
	return out
}
