package advise

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/backlogctl/backlogctl/model"
	"github.com/backlogctl/backlogctl/sysctl/registry"
)

// Severity ranks a finding: info (worth knowing), warning (costing
// connections or about to), critical (connections are being lost now).
type Severity string

// The severities, least severe first.
const (
	Info     Severity = "info"
	Warning  Severity = "warning"
	Critical Severity = "critical"
)

// Rank orders severities: info 0, warning 1, critical 2.
func (s Severity) Rank() int {
	switch s {
	case Critical:
		return 2
	case Warning:
		return 1
	}
	return 0
}

// Finding is one judgement about the host. Its JSON form is a contract:
// names are stable, new fields may be added.
type Finding struct {
	// ID names the rule, e.g. somaxconn-clamps-listener; stable across releases.
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	// Subject is what the finding is about: a sysctl key
	// (net.core.somaxconn), a listener (SubjectOf: "127.0.0.1:80",
	// "[::]:443", a Unix listener's path "/run/php/php8.2-fpm.sock"), a process (PIDSubject: "pid:4242") or a counter name.
	Subject string `json:"subject"`
	// Key is the sysctl the recommendation applies to, when it applies to
	// one; then Current is that key's value (nil when not visible here).
	Key string `json:"key,omitempty"`
	// Listener is the listener a process finding is about, when there is one.
	Listener string `json:"listener,omitempty"`
	// Workload is the Kubernetes pod (and container) that the process, or
	// the listener's owners, run in; for a finding about a pod's own
	// network namespace, that pod. Empty outside pods.
	model.Workload
	Current     *int64 `json:"current,omitempty"`
	Recommended *int64 `json:"recommended,omitempty"`
	// Reason says why, in terms of what the kernel does.
	Reason string `json:"reason"`
	// Fix says what to do, naming the setting to change where it is known.
	Fix string `json:"fix,omitempty"`
	// Evidence holds the numbers that triggered the finding.
	Evidence map[string]float64 `json:"evidence"`
	// Folded names the findings about the same listener that this one, its
	// verdict, stands for: advise gives each listener one verdict, its
	// evidence merged from the others (Reconcile).
	Folded []string `json:"folded,omitempty"`
}

// ListenerSubject is the Subject of findings about the listener on
// address:port; IPv6 addresses are bracketed.
func ListenerSubject(address string, port uint16) string {
	if a, err := netip.ParseAddr(address); err == nil {
		return netip.AddrPortFrom(a, port).String()
	}
	return address + ":" + strconv.Itoa(int(port))
}

// SubjectOf is the Subject of findings about listener l: its address and
// port, or a Unix listener's path (or @abstract name).
func SubjectOf(l model.Listener) string {
	if l.IsUnix() {
		return l.Path
	}
	return ListenerSubject(l.Address, l.Port)
}

// PIDSubject is the Subject of findings about process pid.
func PIDSubject(pid int) string { return fmt.Sprintf("pid:%d", pid) }

// FindingsFor returns the findings about subject, in their order: those whose
// Subject or Listener equals it, or whose Key is the sysctl it names (a
// dotted name, slash path or alias such as "somaxconn"). check uses it to find
// the finding behind a requirement.
func FindingsFor(findings []Finding, subject string) []Finding {
	key := ""
	if k, ok := registry.Lookup(subject); ok {
		key = k.Name
	}
	var out []Finding
	for _, f := range findings {
		if f.Subject == subject || f.Listener == subject || (key != "" && (f.Key == key || f.Subject == key)) {
			out = append(out, f)
		}
	}
	return out
}

// FindingByID returns the first finding with rule id about subject (any
// subject when subject is empty).
func FindingByID(findings []Finding, id, subject string) (Finding, bool) {
	pool := findings
	if subject != "" {
		pool = FindingsFor(findings, subject)
	}
	for _, f := range pool {
		if f.ID == id {
			return f, true
		}
	}
	return Finding{}, false
}

// Sort orders findings most severe first, then by id and subject.
func Sort(findings []Finding) {
	slices.SortStableFunc(findings, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(b.Severity.Rank(), a.Severity.Rank()),
			cmp.Compare(a.ID, b.ID), cmp.Compare(a.Subject, b.Subject))
	})
}

// Worst is the highest severity among findings, or "" when there are none.
func Worst(findings []Finding) Severity {
	var worst Severity
	for _, f := range findings {
		if worst == "" || f.Severity.Rank() > worst.Rank() {
			worst = f.Severity
		}
	}
	return worst
}

func int64p(v int64) *int64 { return &v }
