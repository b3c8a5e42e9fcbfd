// Package observe takes the observations check judges: a snapshot of one
// network namespace, or an --observe window of samples folded into peaks and
// increases, in one namespace or many. It is check's collector; check itself
// only judges the model.
package observe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/backlogctl/backlogctl/check"
	"github.com/backlogctl/backlogctl/hostfs"
	"github.com/backlogctl/backlogctl/inspect"
	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/rlimit"
	"github.com/backlogctl/backlogctl/sysctl"
)

// Source says where observations are read from.
type Source struct {
	// Roots are where /proc and /proc/sys are read ("" parts: the host's).
	Roots hostfs.Roots
	// Ports, when not empty, selects the listeners on these ports.
	Ports []uint16
	// Processes turns on the /proc/*/fd scan that finds listener owners;
	// only process.* requirements need it.
	Processes bool
	// Dumper, when set, is used for every sock_diag dump.
	Dumper *inspect.Dumper
}

func (s Source) procRoot() string { return s.Roots.WithDefaults().Proc }

// Gather takes a point-in-time observation. It does not fail: what could not
// be read is recorded (ListenersError, SysctlErrors, Warnings) and the
// requirements that need it are reported as not evaluated. The tunables are
// read once: their per-key errors come with the snapshot.
func Gather(src Source) *check.Observation {
	snap, err := inspect.Gather(inspect.Options{
		Roots: src.Roots, Ports: src.Ports,
		Processes: src.Processes, Dumper: src.Dumper,
	})
	if err == nil {
		obs := check.FromSnapshot(snap)
		obs.ProcessesScanned = src.Processes
		obs.Ports = src.Ports
		return obs
	}
	// The listeners could not be dumped (netlink denied): the rest still counts.
	sys := sysctl.NewFS(src.Roots.Sys)
	vals, sysErrs := sys.Values()
	obs := check.FromSnapshot(&model.Snapshot{Sysctls: vals, SysctlErrors: sysErrs})
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
// sock_diag socket and folded by a model.Window (peaks, drop increases).
// Tunables, descriptor accounting and, if asked, listener owners are read
// once, at the end: /proc is never scanned per sample. ctx ends the window
// early (the observation then covers the shorter window).
func Observe(ctx context.Context, src Source, o ObserveOptions) (*check.Observation, error) {
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
	var win model.Window
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
		win.AddListeners(ls)
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
		win.AddListeners(end.Snapshot.Listeners)
	}
	if listenersErr != nil {
		end.ListenersError = fmt.Sprintf("sampling listeners: %v", listenersErr)
	}
	if end.ListenersError == "" {
		end.Listeners = check.WindowListeners(&win)
	}
	end.Counters = model.CounterDeltas(startCounters, end.Counters)
	end.Window = &check.Window{Duration: time.Since(begin).Round(time.Millisecond), Interval: o.Interval, Samples: win.Samples}
	return end, nil
}
