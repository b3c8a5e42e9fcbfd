package advise

import (
	"time"

	"github.com/backlogctl/backlogctl/model"
)

// Input is everything the rules judge. Only Now is required.
type Input struct {
	Now model.Sample
	// Before, when set, is a sample taken Interval before Now: counters are
	// then judged by their change. Without it, counter totals since boot (or
	// since a socket was created) are only ever reported as info.
	Before   *model.Sample
	Interval time.Duration
	// Units maps a pid to its systemd unit ("nginx.service"), for pids that
	// run in one; used to name the LimitNOFILE= drop-in.
	Units map[int]string
	// MemTotal is the host's memory in bytes (0 when unknown).
	MemTotal uint64
	// Sizing, when set, sizes backlogs from a connection rate and latency.
	Sizing *Sizing
	// Profile, when set, reports keys below the profile's targets.
	Profile *Profile
	// ChildNetns is true when the snapshot is of a network namespace other
	// than the initial one: its counters started when it was created, not at boot.
	ChildNetns bool
	// NetnsUnknown is true when whether the namespace is the initial one
	// could not be told; totals are then said to start at boot or at the
	// namespace's creation.
	NetnsUnknown bool
	// Changes are the tunable changes backlogctl itself recorded (tune's
	// state), oldest first; a listener older than a somaxconn raise keeps
	// the old clamp until it calls listen() again.
	Changes []model.SysctlChange
	// TraceSeconds, when not 0, is how long the window Now ends was traced
	// with eBPF (advise --trace): the traced rules cite each listener's
	// evidence (model.Listener.Traced). TraceStall is the threshold below
	// which a held queue is not a stall.
	TraceSeconds float64
	TraceStall   time.Duration
	// SizingMeasured names the Sizing inputs measured from the traced
	// evidence rather than given (MeasureSizing).
	SizingMeasured []string
}

// InputOf is the Input of what was collected, to which the caller adds
// Sizing and Profile.
func InputOf(s *model.Samples) Input {
	return Input{Now: s.Now, Before: s.Before, Interval: s.Interval, Units: s.Units, MemTotal: s.MemTotal,
		ChildNetns: s.ChildNetns, NetnsUnknown: s.NetnsUnknown, Changes: s.Changes,
		TraceSeconds: s.TraceSeconds, TraceStall: s.TraceStall}
}

// Advise runs every rule on in and returns the findings, most severe first.
// It is pure: it reads nothing but in.
func Advise(in Input) []Finding {
	if in.Now.Snapshot == nil {
		return nil
	}
	if in.Before != nil && in.Before.Snapshot == nil {
		in.Before = nil
	}
	v := newView(in)
	for _, rule := range rules {
		v.found = append(v.found, rule(v)...)
	}
	out := reconcile(v, dedupeProfile(v.found))
	attachWorkloads(v, out)
	for i := range out {
		model.RoundEvidence(out[i].Evidence)
	}
	Sort(out)
	return out
}

// rules are every rule, each a function of the view.
var rules = []func(*view) []Finding{
	listenerFindings,
	capFindings,
	configuredFindings,
	synQueueFindings,
	syncookieFindings,
	synBacklogFindings,
	abortOnOverflowFindings,
	cookieCounterFindings,
	overflowCounterFindings,
	netdevFindings,
	nofileLimitFindings, // after listenerFindings: skips owners it judged
	nrOpenFindings,
	fileNrFindings,
	sizingFindings,
	profileFindings,
	tracedFindings,
}
