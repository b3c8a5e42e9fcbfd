package check

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/backlogctl/backlogctl/model"
)

// Requirement is an expression and where it came from.
type Requirement struct {
	Expr Expr
	// Source is "--require", "FILE:LINE" for a policy entry, or "profile NAME".
	Source string
}

// Missing says how a requirement that could not be evaluated counts.
type Missing string

// The --missing modes.
const (
	MissingError Missing = "error" // exit 3
	MissingPass  Missing = "pass"
	MissingFail  Missing = "fail"
)

// ParseMissing validates a --missing value.
func ParseMissing(s string) (Missing, error) {
	switch m := Missing(s); m {
	case MissingError, MissingPass, MissingFail:
		return m, nil
	}
	return "", fmt.Errorf("invalid missing mode %q: want error, pass or fail", s)
}

// Status is a requirement's verdict.
type Status string

// Verdicts.
const (
	StatusPass  Status = "pass"
	StatusFail  Status = "fail"
	StatusError Status = "error"
)

// Result is one requirement judged.
type Result struct {
	// Requirement is the canonical expression, e.g. "net.core.somaxconn >= 4096".
	Requirement string `json:"requirement"`
	Subject     string `json:"subject"`
	Op          Op     `json:"op"`
	Expected    string `json:"expected"`
	Source      string `json:"source"`
	Status      Status `json:"status"`
	// Evaluated is false when the subject could not be read here; Status
	// then follows --missing.
	Evaluated bool `json:"evaluated"`
	// Observed is the deciding value: the worst failing one, or when all
	// pass the one closest to failing. Absent when not evaluated.
	Observed json.Number `json:"observed,omitempty"`
	// Where names the listener or process Observed comes from.
	Where string `json:"where,omitempty"`
	// Target is what Observed is about, in the form advise names finding
	// subjects: a sysctl name, a counter name, a listener "127.0.0.1:80", a
	// process "pid:4242", or "fs.file-max" / "fs.nr_open" for files.*.
	Target string `json:"-"`
	// Failing lists every listener or process that failed, "WHERE=VALUE".
	Failing []string `json:"failing,omitempty"`
	// Windowed is true when Observed is an increase or a peak over --observe.
	Windowed bool `json:"windowed,omitempty"`
	// Reason explains a failure or why the requirement was not evaluated.
	Reason string `json:"reason,omitempty"`
	// Netns labels the network namespace the requirement was judged in
	// (netns.Namespace.Label) under --netns or --all-netns; Evaluate leaves
	// it empty.
	Netns string `json:"netns,omitempty"`
}

// Reasoner explains why a failed requirement matters. KernelReasons is the
// built-in one; a source of richer findings can replace it.
type Reasoner interface {
	Reason(r Result, obs *model.Observation) string
}

// EvalOptions tune Evaluate.
type EvalOptions struct {
	Missing Missing
	// Reasons explains failures; nil means KernelReasons.
	Reasons Reasoner
}

// Evaluate judges every requirement against obs. It does no I/O.
func Evaluate(reqs []Requirement, obs *model.Observation, o EvalOptions) []Result {
	if o.Reasons == nil {
		o.Reasons = KernelReasons{}
	}
	if o.Missing == "" {
		o.Missing = MissingError
	}
	out := make([]Result, 0, len(reqs))
	for _, req := range reqs {
		out = append(out, evaluate(req, obs, o))
	}
	return out
}

func evaluate(req Requirement, obs *model.Observation, o EvalOptions) Result {
	e := req.Expr
	r := Result{
		Requirement: e.String(), Subject: e.Subject.Name(), Op: e.Op,
		Expected: e.ValueText, Source: req.Source,
		Windowed: obs.Window != nil && e.Subject.Windowed(),
	}
	vals, unavailable := subjectValues(e.Subject, obs)
	if unavailable != "" {
		r.Reason = unavailable
		switch o.Missing {
		case MissingPass:
			r.Status = StatusPass
			r.Reason += " (counted as pass: --missing=pass)"
		case MissingFail:
			r.Status = StatusFail
			r.Reason += " (counted as fail: --missing=fail)"
		default:
			r.Status = StatusError
		}
		return r
	}
	r.Evaluated = true
	var failing []value
	for _, v := range vals {
		if !e.Op.holds(v.v.Cmp(e.Value)) {
			failing = append(failing, v)
		}
	}
	decisive := vals
	r.Status = StatusPass
	if len(failing) > 0 {
		decisive = failing
		r.Status = StatusFail
	}
	worst := worstValue(e.Op, decisive)
	r.Observed = json.Number(formatRat(worst.v))
	r.Where = worst.where
	r.Target = worst.target
	for _, f := range failing {
		if f.where != "" {
			r.Failing = append(r.Failing, f.where+"="+formatRat(f.v))
		}
	}
	if r.Status == StatusFail {
		r.Reason = o.Reasons.Reason(r, obs)
	}
	return r
}

// worstValue picks the value furthest on the wrong side: the smallest for a
// lower bound, the largest for an upper bound, the first otherwise.
func worstValue(op Op, vals []value) value {
	w := vals[0]
	for _, v := range vals[1:] {
		c := v.v.Cmp(w.v)
		if (op == OpGE || op == OpGT) && c < 0 || (op == OpLE || op == OpLT) && c > 0 {
			w = v
		}
	}
	return w
}

// value is one observed number, where it was seen (for people) and what it
// is about (for finding lookups, see Result.Target).
type value struct {
	where  string
	target string
	v      *big.Rat
}

func intValue(where, target string, v int64) value {
	return value{where, target, new(big.Rat).SetInt64(v)}
}

func uintValue(where, target string, v uint64) value {
	return value{where, target, new(big.Rat).SetUint64(v)}
}

// floatValue reads a ratio by its shortest decimal form, so a fill of 4/5
// compares equal to a written 0.8 rather than to the binary float's excess.
func floatValue(where, target string, f float64) value {
	r, _ := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
	return value{where, target, r}
}

// formatRat prints integers exactly and fractions as the shortest float.
func formatRat(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// subjectValues reads a subject's value(s), or says why they cannot be read.
func subjectValues(s Subject, obs *model.Observation) ([]value, string) {
	switch s.Kind {
	case KindSysctl:
		if v, ok := obs.Sysctls[s.Field]; ok {
			return []value{intValue("", s.Field, v)}, ""
		}
		if err, ok := obs.SysctlErrors[s.Field]; ok {
			return nil, fmt.Sprintf("could not read %s: %s", s.Field, err)
		}
		return nil, fmt.Sprintf("%s is not visible here (absent in this kernel, or a global key inside a child network namespace)", s.Field)
	case KindCounter:
		if v, ok := obs.Counters[s.Field]; ok {
			return []value{uintValue("", s.Field, v)}, ""
		}
		return nil, fmt.Sprintf("counter %s is not reported here (see /proc/net/netstat and /proc/net/snmp)", s.Field)
	case KindFiles:
		return filesValues(s.Field, obs)
	case KindListener, KindProcess:
		if s.Traced() {
			return tracedValues(s, obs)
		}
		if s.Kind == KindListener {
			return listenerValues(s.Field, obs)
		}
		return processValues(s.Field, obs)
	}
	return nil, fmt.Sprintf("unknown subject kind %q", s.Kind)
}

func filesValues(field string, obs *model.Observation) ([]value, string) {
	f := obs.Files
	if f == nil {
		return nil, "fs.file-nr is not visible here"
	}
	switch field {
	case "allocated":
		return []value{intValue("", "fs.file-max", f.Allocated)}, ""
	case "max":
		return []value{intValue("", "fs.file-max", f.Max)}, ""
	case "nr_open":
		return []value{intValue("", "fs.nr_open", f.NrOpen)}, ""
	case "usage":
		if f.Max <= 0 {
			return nil, "fs.file-max is 0: usage is undefined"
		}
		return []value{{"", "fs.file-max", new(big.Rat).SetFrac64(f.Allocated, f.Max)}}, ""
	}
	return nil, fmt.Sprintf("unknown files field %q", field)
}

// noListener says why no listener could be judged.
func noListener(obs *model.Observation) string {
	if obs.ListenersError != "" {
		return "listeners could not be read: " + obs.ListenersError
	}
	if len(obs.Listeners) == 0 {
		var sel []string
		if len(obs.Ports) > 0 {
			sel = append(sel, "port "+joinPorts(obs.Ports))
		}
		if len(obs.Paths) > 0 {
			sel = append(sel, "path "+strings.Join(obs.Paths, ","))
		}
		if len(sel) > 0 {
			return fmt.Sprintf("no listener matched (%s)", strings.Join(sel, "; "))
		}
		return "no listener matched (no listening socket here)"
	}
	return ""
}

func joinPorts(ports []uint16) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ",")
}

// allUnix reports whether every listener is a Unix one.
func allUnix(ls []model.ListenerObservation) bool {
	for _, l := range ls {
		if !l.Unix {
			return false
		}
	}
	return true
}

// listenerWhere names a listener, saying if it came or went during a window.
func listenerWhere(l model.ListenerObservation) string {
	switch {
	case l.Appeared && l.Gone:
		return l.Endpoint + " (came and went during the window)"
	case l.Appeared:
		return l.Endpoint + " (appeared during the window)"
	case l.Gone:
		return l.Endpoint + " (gone before the window ended)"
	}
	return l.Endpoint
}

func listenerValues(field string, obs *model.Observation) ([]value, string) {
	if why := noListener(obs); why != "" {
		return nil, why
	}
	var out []value
	for _, l := range obs.Listeners {
		where, target := listenerWhere(l), l.Endpoint
		switch field {
		case "accept_queue":
			out = append(out, uintValue(where, target, uint64(l.AcceptQueue)))
		case "accept_queue_max":
			out = append(out, uintValue(where, target, uint64(l.AcceptQueueMax)))
		case "fill":
			out = append(out, floatValue(where, target, l.Fill))
		case "syn_queue":
			// A Unix listener has no handshake, so no SYN queue to judge.
			if !l.Unix {
				out = append(out, uintValue(where, target, uint64(l.SynQueue)))
			}
		case "drops":
			if l.Drops != nil {
				out = append(out, uintValue(where, target, uint64(*l.Drops)))
			}
		}
	}
	if len(out) == 0 {
		if allUnix(obs.Listeners) {
			return nil, fmt.Sprintf("listener.%s does not apply to Unix listeners: the kernel keeps no SYN queue or drop count for them", field)
		}
		return nil, "listener drops are not reported by this kernel (SK_MEMINFO_DROPS needs 4.7)"
	}
	return out, ""
}

func processValues(field string, obs *model.Observation) ([]value, string) {
	if why := noListener(obs); why != "" {
		return nil, why
	}
	if !obs.ProcessesScanned {
		return nil, "listener owners were not looked up"
	}
	seen := map[int]bool{}
	var out []value
	for _, l := range obs.Listeners {
		for _, p := range l.Processes {
			if seen[p.PID] {
				continue
			}
			seen[p.PID] = true
			if p.NofileSoft == 0 && p.NofileHard == 0 {
				continue // /proc/PID/limits was not readable
			}
			where, target := fmt.Sprintf("%s[%d]", p.Comm, p.PID), fmt.Sprintf("pid:%d", p.PID)
			switch field {
			case "nofile_soft":
				out = append(out, uintValue(where, target, p.NofileSoft))
			case "nofile_hard":
				out = append(out, uintValue(where, target, p.NofileHard))
			case "open_fds":
				out = append(out, intValue(where, target, int64(p.OpenFDs)))
			case "fd_usage":
				out = append(out, value{where, target, fdUsage(p.OpenFDs-p.FDsAboveLimit, p.NofileSoft)})
			}
		}
	}
	if len(out) == 0 {
		return nil, "no owning process visible (finding the owners of other users' sockets needs root)"
	}
	return out, ""
}

// fdUsage is open descriptors over the soft RLIMIT_NOFILE, exactly.
func fdUsage(open int, soft uint64) *big.Rat {
	return new(big.Rat).SetFrac(big.NewInt(int64(open)), new(big.Int).SetUint64(soft))
}
