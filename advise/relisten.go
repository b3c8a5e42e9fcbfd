package advise

import "github.com/backlogctl/backlogctl/model"

// Relisten is a listener whose backlog stays clamped at the old somaxconn
// after a raise, until its program calls listen() again.
type Relisten struct {
	Listener string `json:"listener"`
	Backlog  uint32 `json:"backlog"`
	// Owner is "nginx[812]"; empty when no owner was seen.
	Owner string `json:"owner,omitempty"`
	Unit  string `json:"unit,omitempty"`
	// Restart says how to make it listen again.
	Restart string `json:"restart"`
}

// StaysClamped lists the listeners of snap that keep their backlog after
// somaxconn goes from c.From to c.To: those whose effective backlog is
// c.From, the clamp listen() gave them (it asked for at least that much).
// units maps owner pids to their systemd units, where known.
func StaysClamped(snap *model.Snapshot, c model.SysctlChange, units map[int]string) []Relisten {
	if snap == nil || c.Key != "net.core.somaxconn" || c.To <= c.From {
		return nil
	}
	var out []Relisten
	for _, l := range snap.Listeners {
		if int64(l.AcceptQueueMax) != c.From {
			continue
		}
		r := Relisten{Listener: SubjectOf(l), Backlog: l.AcceptQueueMax, Restart: restartText(l, units)}
		if len(l.Processes) > 0 {
			r.Owner = ownerName(l.Processes)
			r.Unit = units[l.Processes[0].PID]
		}
		out = append(out, r)
	}
	return out
}
