package check

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/rlimit"
	"github.com/backlogctl/backlogctl/sysctl"
)

// Source says where observations are read from.
type Source struct {
	// ProcRoot is normally /proc; SysRoot normally /proc/sys.
	ProcRoot string
	SysRoot  string
	// Ports, when not empty, selects the listeners on these ports.
	Ports []uint16
	// Processes turns on the /proc/*/fd scan that finds listener owners;
	// only process.* requirements need it.
	Processes bool
	// Dumper, when set, is used for every sock_diag dump.
	Dumper *inspect.Dumper
}

func (s Source) procRoot() string {
	if s.ProcRoot == "" {
		return "/proc"
	}
	return s.ProcRoot
}

// Gather takes a point-in-time observation. It does not fail: what could not
// be read is recorded (ListenersError, SysctlErrors, Warnings) and the
// requirements that need it are reported as not evaluated.
func Gather(src Source) *Observation {
	_, sysErrs := sysctl.NewFS(src.SysRoot).Values()
	snap, err := inspect.Gather(inspect.Options{
		ProcRoot: src.procRoot(), SysRoot: src.SysRoot, Ports: src.Ports,
		Processes: src.Processes, Dumper: src.Dumper,
	})
	if err == nil {
		obs := FromSnapshot(snap, sysErrs)
		obs.ProcessesScanned = src.Processes
		obs.Ports = src.Ports
		return obs
	}
	// The listeners could not be dumped (netlink denied): the rest still counts.
	sys := sysctl.NewFS(src.SysRoot)
	vals, _ := sys.Values()
	obs := FromSnapshot(&inspect.Snapshot{Sysctls: vals}, sysErrs)
	obs.Snapshot = nil
	obs.ListenersError = err.Error()
	obs.Ports = src.Ports
	if obs.Counters, err = inspect.ReadCounters(src.procRoot()); err != nil {
		obs.Counters = map[string]uint64{}
		obs.Warnings = append(obs.Warnings, err.Error())
	}
	if files, err := rlimit.ReadFiles(sys); err == nil {
		obs.Files = &files
	} else if !errors.Is(err, fs.ErrNotExist) {
		obs.Warnings = append(obs.Warnings, err.Error())
	}
	return obs
}

// ObserveOptions shape an --observe window.
type ObserveOptions struct {
	Window   time.Duration
	Interval time.Duration
	// Started, when set, is called once the baseline has been taken.
	Started func()
}

// Observe watches the window: counters are read at its start and end and
// judged by their increase; listeners are dumped every Interval on one
// sock_diag socket and summarised by windowTracker (peaks, drop increases).
// Tunables, descriptor accounting and, if asked, listener owners are read
// once, at the end: /proc is never scanned per sample. ctx ends the window
// early (the observation then covers the shorter window).
func Observe(ctx context.Context, src Source, o ObserveOptions) (*Observation, error) {
	if o.Interval <= 0 {
		return nil, fmt.Errorf("sample interval must be positive, got %v", o.Interval)
	}
	if src.Dumper == nil {
		d, err := inspect.NewDumper()
		if err != nil {
			return nil, err
		}
		defer d.Close()
		src.Dumper = d
	}
	startCounters, err := inspect.ReadCounters(src.procRoot())
	if err != nil {
		return nil, fmt.Errorf("reading the counters at the start of the window: %w", err)
	}
	tracker := newWindowTracker()
	sampleOpts := inspect.Options{Dumper: src.Dumper, Ports: src.Ports}
	var listenersErr error
	sample := func() {
		if listenersErr != nil {
			return
		}
		ls, err := inspect.Listeners(sampleOpts)
		if err != nil {
			listenersErr = err
			return
		}
		obs := make([]ListenerObservation, 0, len(ls))
		for _, l := range ls {
			obs = append(obs, listenerObservation(l))
		}
		tracker.add(obs)
	}
	begin := time.Now()
	sample()
	if o.Started != nil {
		o.Started()
	}
	deadline := time.NewTimer(o.Window)
	defer deadline.Stop()
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
wait:
	for {
		select {
		case <-tick.C:
			sample()
		case <-deadline.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	end := Gather(src)
	if end.ListenersError == "" && listenersErr == nil {
		// Gather's dump is the last sample, and carries the owners.
		tracker.add(end.Listeners)
	}
	if listenersErr != nil {
		end.ListenersError = fmt.Sprintf("sampling listeners: %v", listenersErr)
	}
	if end.ListenersError == "" {
		end.Listeners = tracker.result()
	}
	end.Counters = counterIncrease(startCounters, end.Counters)
	end.Window = &Window{Duration: time.Since(begin).Round(time.Millisecond), Interval: o.Interval, Samples: tracker.samples}
	return end, nil
}
