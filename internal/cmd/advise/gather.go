package advise

import (
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/backlogctl/backlogctl/advise"
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/internal/changes"
	"github.com/backlogctl/backlogctl/internal/cmdutil"
)

// GatherInput is gather for other commands (tune plans from the same
// evidence as advise): one sample, or two o.Interval apart.
func (o *Options) GatherInput() (advise.Input, []string, error) { return o.gather() }

// NewGatherOptions returns Options that read the host at roots.
func NewGatherOptions(roots hostfs.Roots, stateDir string, interval time.Duration) *Options {
	return &Options{Roots: roots, StateDir: stateDir, Interval: interval,
		Gather: inspect.Gather, Host: procHost{}, Sleep: time.Sleep}
}

// gather takes one sample, or two --interval apart, and reads what the rules
// need beyond the snapshot. Smaller gaps become warnings.
func (o *Options) gather() (advise.Input, []string, error) {
	ports, _ := cmdutil.Ports(o.Ports)
	var in advise.Input
	if o.RateSet && o.LatencySet {
		in.Sizing = &advise.Sizing{Rate: o.Rate, AcceptLatency: o.AcceptLatency}
	}
	if o.Profile != "" {
		p, err := advise.LookupProfile(o.Profile)
		if err != nil {
			return in, nil, cmdutil.UsageErrorf("invalid --profile: %v", err)
		}
		in.Profile = &p
	}
	var warnings []string
	if o.Interval > 0 || o.Trace > 0 {
		// The first sample only needs counters and drops: no process scan.
		before, _, err := o.sample(ports, false)
		if err != nil {
			return in, nil, err
		}
		in.Before, in.Interval = &before, o.Interval
		if o.Trace > 0 {
			// The traced window is also the interval counters are judged over.
			var warn string
			in.Interval = o.Trace
			if in.Trace, warn = o.traceWindow(ports); warn != "" {
				warnings = append(warnings, warn)
			} else {
				o.measuredSizing(&in)
			}
		} else {
			o.Sleep(o.Interval)
		}
	}
	now, warn, err := o.sample(ports, true)
	if err != nil {
		return in, nil, err
	}
	in.Now = now
	if in.Trace != nil {
		StallOwners(in.Trace, now.Snapshot, o.Roots)
	}
	warnings = append(append(warnings, now.Snapshot.Warnings...), warn...)
	in.Units = o.units(now.Snapshot)
	o.ownerFacts(now.Snapshot)
	var known bool
	in.ChildNetns, known = changes.ChildNetns(o.Roots, now.Snapshot.Sysctls)
	in.NetnsUnknown = !known
	if o.StateDir != "" {
		recorded, err := changes.Recorded(o.StateDir, o.Roots)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("could not read what backlogctl changed: %v", err))
		}
		in.Changes = recorded
	}
	if o.Host != nil {
		if mem, err := o.Host.MemTotal(o.Roots); err == nil {
			in.MemTotal = mem
		}
	}
	return in, warnings, nil
}

// sample takes one snapshot and the softnet drop total.
func (o *Options) sample(ports []uint16, processes bool) (advise.Sample, []string, error) {
	snap, err := o.Gather(inspect.Options{Roots: o.Roots, Ports: ports, Processes: processes})
	if err != nil {
		return advise.Sample{}, nil, cmdutil.EnvError(err)
	}
	s := advise.Sample{Snapshot: snap}
	var warnings []string
	if o.Host != nil {
		dropped, err := o.Host.SoftnetDropped(o.Roots)
		switch {
		case err == nil:
			s.SoftnetDropped = &dropped
		case !errors.Is(err, fs.ErrNotExist):
			warnings = append(warnings, fmt.Sprintf("could not read net/softnet_stat: %v", err))
		}
	}
	return s, warnings, nil
}

// units finds the systemd unit of every listener owner, where it has one.
func (o *Options) units(snap *inspect.Snapshot) map[int]string {
	if o.Host == nil {
		return nil
	}
	units := map[int]string{}
	for _, l := range snap.Listeners {
		for _, p := range l.Processes {
			if _, done := units[p.PID]; done {
				continue
			}
			unit, _ := o.Host.Unit(o.Roots, p.PID)
			units[p.PID] = unit
		}
	}
	return units
}

// ownerFacts adds what the judges need about each owner beyond inspect's
// scan, read once per process at the last sample: its state and start time
// (/proc/PID/stat) and whether it is a Go program (its net.Listen asks for
// somaxconn).
func (o *Options) ownerFacts(snap *inspect.Snapshot) {
	seen := map[int]inspect.Process{}
	for i := range snap.Listeners {
		ps := snap.Listeners[i].Processes
		for j := range ps {
			f, ok := seen[ps[j].PID]
			if !ok {
				f.State, f.StartTime = inspect.OwnerStat(o.Roots, ps[j].PID)
				f.GoVersion = inspect.GoVersion(o.Roots, ps[j].PID)
				seen[ps[j].PID] = f
			}
			ps[j].State, ps[j].StartTime, ps[j].GoVersion = f.State, f.StartTime, f.GoVersion
		}
	}
}
