package watch

import (
	"math"
	"time"

	"github.com/backlogctl/backlogctl/internal/tableprinter"
	"github.com/backlogctl/backlogctl/model"
)

// The FILL-1M sparkline: each listener's fill over the last minute, one
// character per sparkSlot, the highest fill seen in it.
const (
	sparkSpan  = time.Minute
	sparkSlots = 20
	sparkSlot  = sparkSpan / sparkSlots
)

// fillSample is one interval's fill of a listener.
type fillSample struct {
	at   time.Time
	fill float64
}

// fillHistory keeps the last minute of each listener's fills, by listener.
type fillHistory map[string][]fillSample

// listenerKey tells listeners apart across reports: namespace, address and
// port (or path).
func listenerKey(r *model.WatchReport, l model.WatchListener) string {
	addr, port := l.Columns()
	ns := ""
	if r.Netns != nil {
		ns = r.Netns.Label()
	}
	return ns + "|" + addr + "|" + port
}

// intervalFill is the fill a listener reached in the interval: the exact
// traced high water when there is one, else the sampled peak.
func intervalFill(l model.WatchListener) float64 {
	if l.Traced != nil {
		return l.Traced.IntervalHighWaterFill
	}
	return l.PeakFill
}

// record adds the reports' fills at their time and forgets what is older
// than a minute, and listeners not seen for that long.
func (h fillHistory) record(rs []*model.WatchReport) {
	for _, r := range rs {
		for _, l := range r.Listeners {
			k := listenerKey(r, l)
			h[k] = append(h[k], fillSample{r.Time, intervalFill(l)})
		}
	}
	now := rs[0].Time
	for k, ss := range h {
		i := 0
		for i < len(ss) && now.Sub(ss[i].at) > sparkSpan {
			i++
		}
		if i == len(ss) {
			delete(h, k)
			continue
		}
		h[k] = ss[i:]
	}
}

// sparkline is a listener's FILL-1M at now: a blank before its first
// sample; a slot with no sample of its own repeats the one before.
func (h fillHistory) sparkline(key string, now time.Time) string {
	values := make([]float64, sparkSlots)
	ss := h[key]
	last := math.NaN()
	j := 0
	for k := range sparkSlots {
		end := now.Add(-sparkSpan + time.Duration(k+1)*sparkSlot)
		peak := math.NaN()
		for ; j < len(ss) && !ss[j].at.After(end); j++ {
			if math.IsNaN(peak) || ss[j].fill > peak {
				peak = ss[j].fill
			}
		}
		if !math.IsNaN(peak) {
			last = peak
		}
		values[k] = last
	}
	return tableprinter.Sparkline(values)
}
