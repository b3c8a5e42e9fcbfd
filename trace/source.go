package trace

import "errors"

// Source is what evidence is read from: a *Collector, a recording
// (EnvTraceReplay), or a fake in tests.
type Source interface {
	// Snapshot reads the maps; each read closes an interval of
	// ListenerEvidence.IntervalHighWater.
	Snapshot() (*Evidence, error)
	// Hooks are the attached programs; Memory what the kernel charges for
	// them and their maps.
	Hooks() []Hook
	Memory() uint64
	Close() error
}

// Unavailable reports whether err says the kernel does not allow tracing
// here (no BTF, no permission), as opposed to a failure while tracing.
func Unavailable(err error) bool {
	return errors.Is(err, ErrNoBTF) || errors.Is(err, ErrNoPermission)
}
